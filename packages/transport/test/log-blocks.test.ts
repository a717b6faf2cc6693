/**
 * `/npp/log-blocks/1.0.0` (src/log-blocks.ts): a replica's first heads exchange brings
 * the log's blocks in one stream, each checked against its CID; a peer that sends a
 * block that is not what its CID names is cut off and nothing of it is stored; a peer
 * without the protocol leaves OrbitDB to plain bitswap.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Documents, openOwnDatabase } from '../src/index.js'
import { LOG_BLOCKS_PROTOCOL, encodeFrame, logBlocksCounts, prefetchLogBlocks } from '../src/log-blocks.js'
import { startedTransport } from './helpers.js'
import type { Transport, DocumentsDatabase } from '../src/index.js'
import type { Stream } from '@libp2p/interface'

const ENTRIES = 300
const cleanups: Array<() => Promise<void>> = []
let owner: Transport
let reader: Transport
let db: DocumentsDatabase<{ hash: string, title: string }>
const silent = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {}, newScope: () => silent }) as never

beforeAll(async () => {
  owner = await startedTransport(cleanups, 'log-blocks-owner')
  reader = await startedTransport(cleanups, 'log-blocks-reader')
  db = await openOwnDatabase(owner.orbitdb, 'log-blocks-test', Documents<{ hash: string, title: string }>({ indexBy: 'hash' }))
  for (let i = 0; i < ENTRIES; i++) await db.put({ hash: `piece-${i}`, title: `Piece ${i}` })
  await reader.connect(owner.multiaddrs[0]!)
})
/** The owner answers log-blocks requests with these frames, whatever was asked */
async function serveFrames (frames: Array<[CID, Uint8Array]>): Promise<void> {
  await owner.libp2p.unhandle(LOG_BLOCKS_PROTOCOL)
  await owner.libp2p.handle(LOG_BLOCKS_PROTOCOL, async (stream: Stream) => {
    const lp = lpStream(stream)
    await lp.read()
    for (const [cid, bytes] of frames) await lp.write(encodeFrame(cid, bytes))
    await lp.write(new Uint8Array(0))
    await stream.close()
  })
}

afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe('log blocks in one stream', () => {
  it('a replica opened from its owner gets the whole log in the stream of its first heads exchange: OrbitDB\'s walk, started at the head, waits for the stream instead of asking bitswap', async () => {
    const before = { ...logBlocksCounts }
    const replica = await reader.orbitdb.open(db.address, { Database: Documents({ indexBy: 'hash' }), from: owner.peerId }) as DocumentsDatabase
    const all = new Promise<void>((resolve) => {
      const check = async (): Promise<void> => { if ((await replica.all()).length === ENTRIES) resolve() }
      replica.events.on('update', () => { void check() })
      replica.events.on('join', () => { void check() })
      void check()
    })
    await all
    // every entry of the log, and its writer's identity, came in the stream
    expect(logBlocksCounts.stored - before.stored).toBeGreaterThanOrEqual(ENTRIES)
    expect(logBlocksCounts.served - before.served).toBeGreaterThanOrEqual(ENTRIES)
    expect(logBlocksCounts.invalid - before.invalid).toBe(0)
    await replica.close()
  })

  it('a replica opened again while it is open is the same db (its stores are not opened twice)', async () => {
    const options = { Database: Documents({ indexBy: 'hash' }), from: owner.peerId }
    const first = await reader.orbitdb.open(db.address, options)
    const again = await reader.orbitdb.open(db.address, options)
    expect(again).toBe(first)
    await first.close()
  })

  it('stores nothing of a block that is not what its CID names, and stops reading that peer', async () => {
    // a liar on the owner's side of the connection: it answers with a forged block
    const real = dagCbor.encode({ v: 2, next: [], refs: [], payload: 'real' })
    const cid = CID.createV1(dagCbor.code, await sha256.digest(real))
    const forged = dagCbor.encode({ v: 2, next: [], refs: [], payload: 'forged' })
    await serveFrames([[cid, forged]])
    const result = await prefetchLogBlocks(reader.helia, peerIdFromString(owner.peerId), [cid], { log: silent })
    expect(result).toMatchObject({ received: 0, stored: 0, stopped: 'invalid-block' })
    expect(await reader.helia.blockstore.has(cid)).toBe(false)
  })

  it('stores nothing a peer sends that is not below the head we asked for', async () => {
    // a valid block (it is what its CID names), but not linked from the head
    const head = dagCbor.encode({ v: 2, next: [], refs: [], payload: 'the head' })
    const headCid = CID.createV1(dagCbor.code, await sha256.digest(head))
    const unrelated = dagCbor.encode({ filler: 'x'.repeat(1000) })
    const unrelatedCid = CID.createV1(dagCbor.code, await sha256.digest(unrelated))
    await serveFrames([[headCid, head], [unrelatedCid, unrelated]])
    const result = await prefetchLogBlocks(reader.helia, peerIdFromString(owner.peerId), [headCid], { log: silent })
    expect(result).toMatchObject({ received: 1, stored: 1, stopped: 'unexpected-block' })
    expect(await reader.helia.blockstore.has(headCid)).toBe(true)
    expect(await reader.helia.blockstore.has(unrelatedCid)).toBe(false)
  })

  it('leaves a peer without the protocol to bitswap', async () => {
    await owner.libp2p.unhandle(LOG_BLOCKS_PROTOCOL)
    const cid = CID.createV1(dagCbor.code, await sha256.digest(dagCbor.encode({ nobody: 'has this' })))
    const result = await prefetchLogBlocks(reader.helia, peerIdFromString(owner.peerId), [cid], { log: silent })
    expect(result).toMatchObject({ received: 0, stored: 0, stopped: 'unsupported' })
  })
})
