import { isValidAddress } from '../src/orbitdb.js'
import * as dagCbor from '@ipld/dag-cbor'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { OrbitDBAddressSchema } from '../src/address.js'

const cid = CID.create(1, dagCbor.code, await sha256.digest(dagCbor.encode({ name: 'user' })))

describe('OrbitDBAddressSchema (checked without loading OrbitDB)', () => {
  it('accepts the canonical address OrbitDB produces and agrees with OrbitDB on it', () => {
    const address = `/orbitdb/${cid.toString(base58btc)}`
    expect(address).toMatch(/^\/orbitdb\/zdpu/)
    expect(OrbitDBAddressSchema.safeParse(address).success).toBe(true)
    expect(isValidAddress(address)).toBe(true) // OrbitDB's own check
  })

  it.each([
    ['another spelling of the same db (base32)', `/orbitdb/${cid.toString(base32)}`],
    ['a CIDv0', '/orbitdb/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'],
    ['base58 that is not a CID', `/orbitdb/z${'1'.repeat(40)}`],
    ['no prefix', cid.toString(base58btc)],
    ['a path below the address', `/orbitdb/${cid.toString(base58btc)}/user`]
  ])('rejects %s', (_what, address) => {
    expect(OrbitDBAddressSchema.safeParse(address).success).toBe(false)
  })
})
