/**
 * A faster check of OrbitDB entry signatures, with OrbitDB's acceptance rule.
 *
 * OrbitDB verifies every entry it joins with `identity.verify(sig, key, bytes)`:
 * libp2p's secp256k1 `hashAndVerify` (SHA-256, DER signature, low S), computed in
 * JavaScript by @noble/curves, ~2 ms per entry on this project's 2-core machine.
 * Node's OpenSSL does the same check in a fraction of that. This verifier answers
 * `true` only where OpenSSL accepts a canonical DER signature with `s <= n/2` under a
 * 33-byte compressed secp256k1 key, which noble accepts too; every other case (a
 * high-S, malformed or non-DER signature, another key type, a signature OpenSSL
 * refuses) is decided by the original verify, so the rule stays exactly OrbitDB's.
 * Signing is unchanged (noble).
 */
import { createPublicKey, verify as opensslVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

/** `identity.verify` as OrbitDB calls it: base16 signature, base16 public key, the signed bytes */
export type VerifyFn = (signature: string, publicKey: string, data: string | Uint8Array) => Promise<boolean>

/** DER SubjectPublicKeyInfo header for a compressed secp256k1 key (id-ecPublicKey, secp256k1, 33-byte bit string) */
const SPKI_PREFIX = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex')
/** Half the order of secp256k1: noble (lowS) refuses a larger S, OpenSSL does not */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n
const HEX = /^(?:[0-9a-f]{2})+$/i
/** Public keys kept parsed (one per writer; a companion's catalog has one) */
const MAX_KEYS = 1024
/**
 * Signatures remembered as valid, with what they signed. OrbitDB's own verify keeps
 * such a cache (key-store.js, 1,000 signatures) and OrbitDB asks again for the same
 * entries (live updates of 10 companions: 4× the checks without it)
 */
const MAX_VERIFIED = 4096

/**
 * The S of a DER `SEQUENCE { INTEGER r, INTEGER s }` with short lengths, or
 * `undefined` when the bytes are not that shape (then OpenSSL is not asked)
 */
function derS (sig: Buffer): bigint | undefined {
  if (sig.length < 8 || sig.length > 72 || sig[0] !== 0x30 || sig[1] !== sig.length - 2 || sig[2] !== 0x02) return undefined
  const rLength = sig[3]!
  const sAt = 4 + rLength
  if (sig[sAt] !== 0x02) return undefined
  const sLength = sig[sAt + 1]!
  if (sAt + 2 + sLength !== sig.length || sLength === 0 || sLength > 33) return undefined
  return BigInt('0x' + sig.subarray(sAt + 2).toString('hex'))
}

/**
 * `original` (OrbitDB's verify) with OpenSSL in front for the common case: a
 * valid low-S DER signature by a compressed secp256k1 key.
 */
export function fastVerify (original: VerifyFn): VerifyFn {
  const keys = new Map<string, KeyObject | null>()
  const keyOf = (publicKey: string): KeyObject | null => {
    let key = keys.get(publicKey)
    if (key !== undefined) return key
    key = null
    if (publicKey.length === 66 && HEX.test(publicKey) && /^0[23]/.test(publicKey)) {
      try {
        key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKey, 'hex')]), format: 'der', type: 'spki' })
      } catch {
        key = null
      }
    }
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value!)
    keys.set(publicKey, key)
    return key
  }
  const verified = new Map<string, { publicKey: string, data: Buffer }>()
  const remember = (signature: string, publicKey: string, data: Uint8Array): void => {
    if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!)
    verified.set(signature, { publicKey, data: Buffer.from(data) })
  }
  return async (signature, publicKey, data) => {
    if (typeof signature !== 'string' || typeof publicKey !== 'string' || !HEX.test(signature)) return await original(signature, publicKey, data)
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    const known = verified.get(signature)
    if (known != null && known.publicKey === publicKey && known.data.equals(bytes)) return true
    const key = keyOf(publicKey)
    const sig = Buffer.from(signature, 'hex')
    const s = derS(sig)
    if (key == null || s == null || s > HALF_N) return await original(signature, publicKey, data)
    let ok = false
    try {
      ok = opensslVerify('sha256', bytes, key, sig)
    } catch {
      ok = false
    }
    if (ok) {
      remember(signature, publicKey, bytes)
      return true
    }
    return await original(signature, publicKey, data)
  }
}
