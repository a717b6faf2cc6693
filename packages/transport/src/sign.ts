/**
 * Faster signing of OrbitDB entries, with the same signatures.
 *
 * OrbitDB signs each entry it appends with `identity.sign(identity, bytes)`: the
 * keystore's secp256k1 key, SHA-256 and a DER signature by @noble/curves in
 * JavaScript, ~0.7 ms of a put (bench:write). libsecp256k1 (./secp256k1.ts) signs in
 * 0.1 ms, deterministically and with a low S as noble does: the signature is the
 * same, byte for byte. Identities are still signed by OrbitDB itself. A key that is
 * not secp256k1 falls back to the original sign.
 */
import { signDer } from './secp256k1.js'

/** `identity.sign` as OrbitDB calls it: the identity, the bytes; a base16 signature */
export type SignFn = (identity: { id: string }, data: string | Uint8Array) => Promise<string>

/** A private key as OrbitDB's keystore returns it (libp2p's) */
export interface KeystoreKey {
  type: string
  raw: Uint8Array
}

/** `original` (OrbitDB's sign) with libsecp256k1 for secp256k1 keys; `keyOf` reads the keystore */
export function fastSign (original: SignFn, keyOf: (id: string) => Promise<KeystoreKey | undefined>): SignFn {
  // the keystore decodes its key on every read; an identity's key never changes
  const keys = new Map<string, KeystoreKey>()
  return async (identity, data) => {
    let key = keys.get(identity.id)
    if (key == null) {
      key = await keyOf(identity.id)
      if (key != null && keys.size < 16) keys.set(identity.id, key)
    }
    if (key?.type !== 'secp256k1' || key.raw.length !== 32 || data == null) return await original(identity, data)
    return Buffer.from(signDer(key.raw, typeof data === 'string' ? Buffer.from(data) : data)).toString('hex')
  }
}
