import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { toString as toHex, fromString as fromHex } from 'uint8arrays'
import { describe, expect, it } from 'vitest'
import { fastSign } from '../src/sign.js'
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

describe('fastVerify: libsecp256k1 in front of OrbitDB\'s verify, with its acceptance rule', () => {
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

  it('refuses a high-S signature itself, as noble does', async () => {
    const original = counted(nobleVerify)
    const verify = fastVerify(original)
    for (let i = 0; i < 10; i++) {
      const { signature, publicKey, data } = await signed(`high S ${i}`)
      const { r, s } = parseDer(signature)
      const high = der(r, N - s)
      expect(await nobleVerify(high, publicKey, data)).toBe(false)
      expect(await verify(high, publicKey, data)).toBe(false)
    }
    expect(original.calls).toBe(0)
  })

  it('leaves what it does not read to the original: malformed hex and DER, compact signatures, other key types', async () => {
    const original = counted(async () => true)
    const verify = fastVerify(original)
    const { signature, publicKey, data } = await signed('x')
    const { r, s } = parseDer(signature)
    const compact = r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0')
    const ed = await generateKeyPair('Ed25519')
    // r with a leading zero it does not need: not strict DER
    const padded = '30' + (parseInt(signature.slice(2, 4), 16) + 1).toString(16).padStart(2, '0') + '02' + (parseInt(signature.slice(6, 8), 16) + 1).toString(16).padStart(2, '0') + '00' + signature.slice(8)
    const cases: Array<[string, string]> = [
      ['zz', publicKey],
      [padded, publicKey],
      // r = 0
      [der(0n, s), publicKey],
      // s not below the order
      [der(r, N + 5n), publicKey],
      // a compressed key that is not on the curve
      [signature, '02' + 'ff'.repeat(32)],
      [signature.slice(0, -2), publicKey],
      [compact, publicKey],
      [signature, toHex(ed.publicKey.raw, 'base16')],
      [signature, '04' + publicKey.slice(2)]
    ]
    for (const [sig, key] of cases) expect(await verify(sig, key, data)).toBe(true)
    expect(original.calls).toBe(cases.length)
  })
})

describe('fastSign: libsecp256k1 signing OrbitDB entries', () => {
  it('signs as libp2p\'s keys (noble) do, byte for byte, and the signatures verify', async () => {
    const key = await generateKeyPair('secp256k1')
    const original = Object.assign(async () => { original.calls++; return '' }, { calls: 0 })
    const sign = fastSign(original, async () => key)
    const publicKey = toHex(key.publicKey.raw, 'base16')
    for (let i = 0; i < 50; i++) {
      const data = new TextEncoder().encode(`entry ${i} `.repeat(i + 1))
      const signature = await sign({ id: 'me' }, data)
      expect(signature).toBe(toHex(await key.sign(data), 'base16'))
      expect(await nobleVerify(signature, publicKey, data)).toBe(true)
      expect(await sign({ id: 'me' }, `entry ${i}`)).toBe(toHex(await key.sign(new TextEncoder().encode(`entry ${i}`)), 'base16'))
    }
    expect(original.calls).toBe(0)
  })

  it('leaves keys of other types and a missing key to the original sign', async () => {
    const ed = await generateKeyPair('Ed25519')
    const original = Object.assign(async () => { original.calls++; return 'original' }, { calls: 0 })
    expect(await fastSign(original, async () => ed)({ id: 'ed' }, 'x')).toBe('original')
    expect(await fastSign(original, async () => undefined)({ id: 'nobody' }, 'x')).toBe('original')
    expect(original.calls).toBe(2)
  })
})
