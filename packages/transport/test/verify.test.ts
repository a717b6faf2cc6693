import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { toString as toHex, fromString as fromHex } from 'uint8arrays'
import { describe, expect, it } from 'vitest'
import { fastVerify } from '../src/verify.js'
import type { VerifyFn } from '../src/verify.js'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** OrbitDB's own check (key-store.js verifySignature): libp2p's secp256k1 verify, noble */
const nobleVerify: VerifyFn = async (signature, publicKey, data) => {
  try {
    const key = publicKeyFromRaw(fromHex(publicKey, 'base16'))
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
    return await key.verify(bytes, fromHex(signature, 'base16'))
  } catch {
    return false
  }
}

function counted (verify: VerifyFn): VerifyFn & { calls: number } {
  const fn = Object.assign(async (s: string, k: string, d: string | Uint8Array) => { fn.calls++; return await verify(s, k, d) }, { calls: 0 })
  return fn
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }` */
function der (r: bigint, s: bigint): string {
  const int = (v: bigint): string => {
    let hex = v.toString(16)
    if (hex.length % 2 === 1) hex = '0' + hex
    if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = '00' + hex
    return '02' + (hex.length / 2).toString(16).padStart(2, '0') + hex
  }
  const body = int(r) + int(s)
  return '30' + (body.length / 2).toString(16).padStart(2, '0') + body
}

function parseDer (sig: string): { r: bigint, s: bigint } {
  const bytes = fromHex(sig, 'base16')
  const rLength = bytes[3]!
  const r = BigInt('0x' + toHex(bytes.subarray(4, 4 + rLength), 'base16'))
  const s = BigInt('0x' + toHex(bytes.subarray(6 + rLength), 'base16'))
  return { r, s }
}

async function signed (text: string): Promise<{ signature: string, publicKey: string, data: Uint8Array }> {
  const key = await generateKeyPair('secp256k1')
  const data = new TextEncoder().encode(text)
  return { signature: toHex(await key.sign(data), 'base16'), publicKey: toHex(key.publicKey.raw, 'base16'), data }
}

describe('fastVerify: OpenSSL in front of OrbitDB\'s verify, with its acceptance rule', () => {
  it('accepts a valid signature without asking the original', async () => {
    const original = counted(nobleVerify)
    const verify = fastVerify(original)
    for (let i = 0; i < 20; i++) {
      const { signature, publicKey, data } = await signed(`entry ${i}`)
      expect(await verify(signature, publicKey, data)).toBe(true)
      expect(await verify(signature, publicKey, `entry ${i}`)).toBe(true)
    }
    expect(original.calls).toBe(0)
  })

  it('refuses tampered data, a tampered signature and another key, as the original does', async () => {
    const verify = fastVerify(nobleVerify)
    const { signature, publicKey, data } = await signed('the entry')
    const other = await signed('another entry')
    const tamperedData = Uint8Array.from(data)
    tamperedData[0]! ^= 1
    const { r, s } = parseDer(signature)
    const tamperedSig = der(r, s ^ 1n)
    for (const [sig, key, bytes] of [[signature, publicKey, tamperedData], [tamperedSig, publicKey, data], [signature, other.publicKey, data], [other.signature, publicKey, data]] as const) {
      expect(await nobleVerify(sig, key, bytes)).toBe(false)
      expect(await verify(sig, key, bytes)).toBe(false)
    }
  })

  it('refuses a high-S signature (valid for OpenSSL, not for noble)', async () => {
    const original = counted(nobleVerify)
    const verify = fastVerify(original)
    for (let i = 0; i < 10; i++) {
      const { signature, publicKey, data } = await signed(`high S ${i}`)
      const { r, s } = parseDer(signature)
      const high = der(r, N - s)
      expect(await nobleVerify(high, publicKey, data)).toBe(false)
      expect(await verify(high, publicKey, data)).toBe(false)
    }
    expect(original.calls).toBe(10)
  })

  it('leaves what it does not read to the original: malformed hex and DER, compact signatures, other key types', async () => {
    const original = counted(async () => true)
    const verify = fastVerify(original)
    const { signature, publicKey, data } = await signed('x')
    const { r, s } = parseDer(signature)
    const compact = r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0')
    const ed = await generateKeyPair('Ed25519')
    const cases: Array<[string, string]> = [
      ['zz', publicKey],
      [signature.slice(0, -2), publicKey],
      [compact, publicKey],
      [signature, toHex(ed.publicKey.raw, 'base16')],
      [signature, '04' + publicKey.slice(2)]
    ]
    for (const [sig, key] of cases) expect(await verify(sig, key, data)).toBe(true)
    expect(original.calls).toBe(cases.length)
  })
})
