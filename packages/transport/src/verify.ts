/**
 * A faster check of OrbitDB entry signatures, with OrbitDB's acceptance rule.
 *
 * OrbitDB verifies every entry it joins with `identity.verify(sig, key, bytes)`:
 * libp2p's secp256k1 `hashAndVerify` (SHA-256, DER signature, low S), computed in
 * JavaScript by @noble/curves, ~1.2 ms per entry on this project's 2-core machine.
 * libsecp256k1 (./secp256k1.ts) does the same check in 0.2 ms. It decides only where
 * its rule and noble's are the same: a strict DER signature under a 33-byte
 * compressed key on the curve, a high S refused; every other case (malformed or
 * non-DER signatures, other key types, r or s out of range) is decided by the
 * original verify, so the rule stays exactly OrbitDB's.
 */
import { verifyDer } from './secp256k1.js'

/** `identity.verify` as OrbitDB calls it: base16 signature, base16 public key, the signed bytes */
export type VerifyFn = (signature: string, publicKey: string, data: string | Uint8Array) => Promise<boolean>

const HEX = /^(?:[0-9a-f]{2})+$/i
/**
 * Signatures remembered as valid, with what they signed. OrbitDB's own verify keeps
 * such a cache (key-store.js, 1,000 signatures) and OrbitDB asks again for the same
 * entries (live updates of 10 companions: 4× the checks without it)
 */
const MAX_VERIFIED = 4096

/** `original` (OrbitDB's verify) with libsecp256k1 in front for the common case */
export function fastVerify (original: VerifyFn): VerifyFn {
  const verified = new Map<string, { publicKey: string, data: Uint8Array }>()
  const remember = (signature: string, publicKey: string, data: Uint8Array): void => {
    if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!)
    // a copy of its own size: a Buffer.from() of a few hundred bytes is a view of a
    // 64 KiB pool (Node 24), which the cache would keep alive
    verified.set(signature, { publicKey, data: new Uint8Array(data) })
  }
  return async (signature, publicKey, data) => {
    if (typeof signature !== 'string' || typeof publicKey !== 'string' || !HEX.test(signature) || !HEX.test(publicKey)) {
      return await original(signature, publicKey, data)
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    const known = verified.get(signature)
    if (known != null && known.publicKey === publicKey && Buffer.compare(known.data, bytes) === 0) return true
    const valid = verifyDer(Buffer.from(publicKey, 'hex'), Buffer.from(signature, 'hex'), bytes)
    if (valid === undefined) return await original(signature, publicKey, data)
    if (valid) remember(signature, publicKey, bytes)
    return valid
  }
}
