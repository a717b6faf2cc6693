/**
 * OrbitDB's secp256k1 signatures computed by libsecp256k1 (tiny-secp256k1, the
 * bitcoinjs build of Bitcoin Core's library for WebAssembly; the same code runs in a
 * browser) instead of @noble/curves in JavaScript: on this project's 2-core machine a
 * signature takes 0.10 ms instead of ~0.6 ms, a check 0.21 ms instead of ~1.2 ms
 * (Node's OpenSSL: 0.32 and 0.45 ms). Both libraries sign deterministically
 * (RFC 6979) with a low S, so the signatures are byte for byte noble's.
 *
 * libp2p's keys (what OrbitDB's keystore holds) sign SHA-256 of the bytes and encode
 * the signature as DER; libsecp256k1 takes the hash and a 64-byte `r || s`.
 */
import { createHash } from 'node:crypto'
import * as ecc from 'tiny-secp256k1'

/** SHA-256 of `bytes` */
function sha256 (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/**
 * The 64-byte `r || s` of a strict DER `SEQUENCE { INTEGER r, INTEGER s }` (short
 * lengths, minimal positive integers of at most 32 value bytes), or `undefined` when
 * the bytes are anything else
 */
export function compactFromDer (sig: Uint8Array): Uint8Array | undefined {
  if (sig.length < 8 || sig.length > 72 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) return undefined
  const compact = new Uint8Array(64)
  let at = 2
  for (const offset of [0, 32]) {
    if (sig[at] !== 0x02) return undefined
    const length = sig[at + 1]!
    const value = sig.subarray(at + 2, at + 2 + length)
    if (length === 0 || value.length !== length) return undefined
    // minimal and positive: no sign bit, no leading zero unless the next byte needs it
    if ((value[0]! & 0x80) !== 0 || (value[0] === 0 && (length === 1 || (value[1]! & 0x80) === 0))) return undefined
    const bytes = value[0] === 0 ? value.subarray(1) : value
    if (bytes.length > 32) return undefined
    compact.set(bytes, offset + 32 - bytes.length)
    at += 2 + length
  }
  return at === sig.length ? compact : undefined
}

/** A minimal DER INTEGER for 32 big-endian bytes */
function derInteger (bytes: Uint8Array): Uint8Array {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const value = bytes.subarray(start)
  const padded = (value[0]! & 0x80) !== 0
  return Uint8Array.from([0x02, value.length + (padded ? 1 : 0), ...(padded ? [0] : []), ...value])
}

/** The DER encoding of a 64-byte `r || s` */
export function derFromCompact (compact: Uint8Array): Uint8Array {
  const r = derInteger(compact.subarray(0, 32))
  const s = derInteger(compact.subarray(32))
  return Uint8Array.from([0x30, r.length + s.length, ...r, ...s])
}

/** libp2p's secp256k1 signature (DER, low S, RFC 6979) of `data` with a 32-byte secret */
export function signDer (secret: Uint8Array, data: Uint8Array): Uint8Array {
  return derFromCompact(ecc.sign(sha256(data), secret))
}

/**
 * Whether `sig` (strict DER) is a valid signature of `data` with a low S, under a
 * compressed public key: `undefined` when the inputs are not in that form (then
 * libsecp256k1 is not asked), so the caller can leave those to noble
 */
export function verifyDer (publicKey: Uint8Array, sig: Uint8Array, data: Uint8Array): boolean | undefined {
  const compact = compactFromDer(sig)
  if (compact == null || publicKey.length !== 33 || !ecc.isPoint(publicKey)) return undefined
  try {
    // strict: a high S is refused, as noble refuses it
    return ecc.verify(sha256(data), publicKey, compact, true)
  } catch {
    // r or s zero or not below the order
    return undefined
  }
}
