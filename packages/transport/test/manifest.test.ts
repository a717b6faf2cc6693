import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Documents, inspectDatabase, IPFSAccessController, KeyValue, openOwnDatabase, OWN_DATABASES } from '../src/index.js'
import { startedTransport } from './helpers.js'
import type { Transport } from '../src/index.js'

const RAW = 0x55
const cleanups: Array<() => Promise<void>> = []
let owner: Transport
let other: Transport

const peer = async (name: string): Promise<Transport> => await startedTransport(cleanups, name)

/** Store `bytes` as a block of `codec` in `transport`'s blockstore; returns it as an /orbitdb/ address */
async function storeBlock (transport: Transport, bytes: Uint8Array, codec: number): Promise<string> {
  const cid = CID.createV1(codec, await sha256.digest(bytes))
  await transport.helia.blockstore.put(cid, bytes)
  return `/orbitdb/${cid.toString(base58btc)}`
}

beforeAll(async () => {
  owner = await peer('inspect-owner')
  other = await peer('inspect-other')
})
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe('inspectDatabase', () => {
  it('accepts an owner-only db of the expected type, here and from another peer, with its writers', async () => {
    const user = await openOwnDatabase(owner.orbitdb, OWN_DATABASES.user, KeyValue())
    const local = await inspectDatabase(owner.helia, user.address, { type: 'keyvalue' })
    expect(local).toEqual({ ok: true, manifest: expect.objectContaining({ name: 'user', type: 'keyvalue' }), writers: [owner.orbitdb.identity.id] })

    await other.connect(owner.multiaddrs[0]!)
    const pieces = await openOwnDatabase(owner.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    const remote = await inspectDatabase(other.helia, pieces.address, { type: 'documents', signal: AbortSignal.timeout(30_000) })
    expect(remote.ok && remote.writers).toEqual([owner.orbitdb.identity.id])
    expect((await inspectDatabase(owner.helia, pieces.address)).ok).toBe(true) // any type when none is asked for
  })

  it('refuses a db of another type', async () => {
    const user = await openOwnDatabase(owner.orbitdb, OWN_DATABASES.user, KeyValue())
    const inspection = await inspectDatabase(owner.helia, user.address, { type: 'documents' })
    expect(inspection).toEqual({ ok: false, problem: 'wrong-type', detail: `${user.address} is a keyvalue db; expected documents` })
  })

  it('refuses a db that anyone may write to', async () => {
    const open = await owner.orbitdb.open('open-to-all', { Database: KeyValue(), type: 'keyvalue', AccessController: IPFSAccessController({ write: ['*'] }) })
    const inspection = await inspectDatabase(owner.helia, open.address, { type: 'keyvalue' })
    expect(inspection).toMatchObject({ ok: false, problem: 'bad-access', detail: expect.stringContaining('not write-restricted') })
  })

  it('refuses a block that is not a manifest: CBOR of another shape, or not CBOR at all', async () => {
    const otherShape = await storeBlock(owner, dagCbor.encode({ hello: 'world' }), dagCbor.code)
    expect(await inspectDatabase(owner.helia, otherShape)).toMatchObject({ ok: false, problem: 'bad-manifest' })
    const notCbor = await storeBlock(owner, new TextEncoder().encode('not a manifest'), RAW)
    expect(await inspectDatabase(owner.helia, notCbor)).toMatchObject({ ok: false, problem: 'bad-manifest' })
    const badAccess = await storeBlock(owner, dagCbor.encode({ name: 'x', type: 'keyvalue', accessController: notCbor.replace('/orbitdb/', '/ipfs/') }), dagCbor.code)
    expect(await inspectDatabase(owner.helia, badAccess)).toMatchObject({ ok: false, problem: 'bad-access' })
  })

  it('rejects with the reason when its signal aborts', async () => {
    // a block that nobody has: the fetch waits until the signal aborts
    const missing = `/orbitdb/${CID.createV1(dagCbor.code, await sha256.digest(new TextEncoder().encode('nobody has this'))).toString(base58btc)}`
    const controller = new AbortController()
    const reason = new Error('gave up')
    const inspection = inspectDatabase(owner.helia, missing, { signal: controller.signal })
    controller.abort(reason)
    await expect(inspection).rejects.toBe(reason)
    await expect(inspectDatabase(owner.helia, missing, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  })

  it('tells a fetch that failed from a block that is no manifest by where it failed, not by the error text', async () => {
    // a fetch error whose message reads like a decode error (a stream ended early under load)
    const failing = { blockstore: { get: () => { throw new Error('Unexpected end of input') } } } as unknown as Transport['helia']
    const somewhere = `/orbitdb/${CID.createV1(dagCbor.code, await sha256.digest(new TextEncoder().encode('anywhere'))).toString(base58btc)}`
    expect(await inspectDatabase(failing, somewhere)).toMatchObject({ ok: false, problem: 'no-manifest', detail: expect.stringContaining('Unexpected end of input') })
  })
})
