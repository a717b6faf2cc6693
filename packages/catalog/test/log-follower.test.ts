/**
 * The LogFollower alone, on a fake log that stores entries as OrbitDB 4 does
 * (dag-cbor blocks, decoded without their bytes), then on a real OrbitDB log:
 * it applies every entry once and counts the encoded size of what it applied.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { LogFollower, encodedSize } from '../src/log-follower.js'
import { cidOf, runCleanups, startPeer } from './helpers.js'
import type { EntrySink } from '../src/log-follower.js'
import type { Entry, Log, Operation } from '@npp/transport'

afterEach(runCleanups)

/** A log as OrbitDB 4.0.0 keeps one: blocks by hash; `get` and `heads` decode them (`{ ...fields, hash }`, no `bytes`) */
function fakeLog () {
  const blocks = new Map<string, Uint8Array>()
  let heads: string[] = []
  const decode = (hash: string): Entry<Operation> | undefined => {
    const block = blocks.get(hash)
    return block == null ? undefined : { ...dagCbor.decode<object>(block), hash } as Entry<Operation>
  }
  const log: Pick<Log, 'get' | 'heads'> = {
    get: async (hash) => decode(hash),
    heads: async () => heads.map((h) => decode(h)!)
  }
  /** Append an entry after the current heads (`notes` makes it larger); returns its hash and block */
  const append = async (key: string, notes = ''): Promise<{ hash: string, block: Uint8Array }> => {
    const fields = {
      id: '/orbitdb/pieces',
      payload: { op: 'PUT', key, value: { hash: key, instrument: 'viola', notes } },
      next: heads,
      refs: [],
      clock: { id: 'writer-key', time: blocks.size + 1 },
      v: 2,
      key: 'writer-key',
      identity: 'writer-identity',
      sig: 'writer-signature'
    }
    const block = dagCbor.encode(fields)
    const hash = CID.create(1, dagCbor.code, await sha256.digest(block)).toString(base58btc)
    blocks.set(hash, block)
    heads = [hash]
    return { hash, block }
  }
  return { log, append, blocks }
}

/** A sink that records the hash of every entry it is given */
function recordingSink (): EntrySink & { applied: string[] } {
  const applied: string[] = []
  return { applied, apply: (entries) => { applied.push(...entries.map((e) => e.hash)); return [] } }
}

const sum = (blocks: Iterable<Uint8Array>): number => [...blocks].reduce((n, b) => n + b.byteLength, 0)

describe('LogFollower', () => {
  it('counts the encoded size of every entry it applies, once, and nothing for entries it has seen', async () => {
    const { log, append, blocks } = fakeLog()
    const sink = recordingSink()
    const follower = new LogFollower(log, sink)
    for (const key of ['a', 'b', 'c']) await append(key)
    await follower.catchUp()
    expect(sink.applied).toHaveLength(3)
    expect(follower.entries).toBe(3)
    expect(follower.bytes).toBe(sum(blocks.values()))

    // nothing new: nothing counted
    await follower.catchUp()
    expect(follower.bytes).toBe(sum(blocks.values()))

    // one larger entry: counted by its block's length, only it walked
    const big = await append('d', 'x'.repeat(4_000))
    await follower.include(big.hash)
    expect(sink.applied).toHaveLength(4)
    expect(follower.entries).toBe(4)
    expect(follower.bytes).toBe(sum(blocks.values()))
    expect(big.block.byteLength).toBeGreaterThan(4_000)
  })

  it('applies verified entries in batches before the log has them, knows the log\'s length from the head\'s clock, and walks none of them again', async () => {
    const { log, append } = fakeLog()
    const applied: string[] = []
    const sink: EntrySink = { apply: (entries) => entries.map((e) => { applied.push(e.hash); return { hash: e.hash, change: 'added' as const } }) }
    const follower = new LogFollower(log, sink, 1)
    const batchApplied = async (): Promise<void> => { await new Promise<void>((resolve) => { const off = follower.onChange(() => { off(); resolve() }) }) }
    const hashes: string[] = []
    for (const key of ['a', 'b', 'c', 'd']) hashes.push((await append(key)).hash)
    const decoded = await Promise.all(hashes.map(async (h) => (await log.get(h))!))
    // as a join verifies them: the head first, then down the log
    let batch = batchApplied()
    follower.verified(decoded[3]!)
    follower.verified(decoded[2]!)
    await batch
    expect(applied).toEqual([hashes[3], hashes[2]])
    expect(follower.entries).toBe(2)
    expect(follower.known).toBe(4)
    // seen entries are neither announced nor walked again
    follower.verified(decoded[2]!)
    await follower.catchUp()
    expect(applied).toEqual([hashes[3], hashes[2]])
    batch = batchApplied()
    follower.verified(decoded[1]!)
    follower.verified(decoded[0]!)
    await batch
    expect(applied).toEqual([hashes[3], hashes[2], hashes[1], hashes[0]])
    expect(follower.entries).toBe(4)
    expect(follower.known).toBe(4)
  })

  it('applies nothing more once stopped (a replica past its quota), neither verified entries nor walks', async () => {
    const { log, append } = fakeLog()
    const sink = recordingSink()
    const follower = new LogFollower(log, sink, 1)
    await append('a')
    await follower.catchUp()
    follower.stop()
    const b = (await log.get((await append('b')).hash))!
    follower.verified(b)
    await follower.catchUp()
    await follower.idle()
    expect(sink.applied).toHaveLength(1)
    expect(follower.entries).toBe(1)
  })

  it('forgets verified entries not applied yet when told to (its db is closing)', async () => {
    const { log, append } = fakeLog()
    const sink = recordingSink()
    const follower = new LogFollower(log, sink, 60_000)
    const entry = (await log.get((await append('a')).hash))!
    follower.verified(entry)
    follower.discardPending()
    await follower.idle()
    expect(sink.applied).toEqual([])
    expect(follower.entries).toBe(0)
  })

  it('takes the size of the block an entry carries (`bytes`) instead of encoding it again', () => {
    const entry = { hash: 'h', id: 'log', payload: { op: 'PUT', key: 'k', value: null }, identity: 'i', clock: { id: 'c', time: 1 }, next: [], refs: [], bytes: new Uint8Array(1234) }
    expect(encodedSize(entry as Entry<Operation>)).toBe(1234)
  })

  it('encodes the encrypted payload (`_payload`) of a db with payload encryption, as OrbitDB stores it', () => {
    const fields = { id: 'log', payload: new Uint8Array(300), next: [], refs: [], clock: { id: 'c', time: 1 }, v: 2, key: 'k', identity: 'i', sig: 's' }
    const handed = { ...fields, payload: { op: 'PUT', key: 'k', value: 'decrypted' }, _payload: fields.payload, hash: 'h' }
    expect(encodedSize(handed as unknown as Entry<Operation>)).toBe(dagCbor.encode(fields).byteLength)
  })
})

describe('LogFollower on a real OrbitDB 4 log', () => {
  it('counts exactly the bytes of the blocks OrbitDB stored for the entries', async () => {
    const alice = await startPeer('alice')
    await alice.catalog.add({ hash: await cidOf('chaconne'), instrument: 'violin', title: 'Chaconne' })
    await alice.catalog.add({ hash: await cidOf('etude'), instrument: 'viola', title: 'Étude', notes: 'n'.repeat(2_000) })
    await alice.catalog.remove(await cidOf('chaconne'))
    const stores = alice.catalog.actor.getSnapshot().context.stores!
    const { pieces, piecesFollower } = stores
    await piecesFollower.idle()
    // what OrbitDB keeps for each entry: the encoded block (its `Entry.encode` output)
    const storage = (pieces.log as unknown as { storage: { get(hash: string): Promise<Uint8Array | undefined> } }).storage
    const entries = await pieces.log.values()
    const stored = await Promise.all(entries.map(async (e) => (await storage.get(e.hash))!))
    expect(piecesFollower.entries).toBe(3)
    expect(piecesFollower.bytes).toBe(sum(stored))
    // OrbitDB 4.0.0 decodes entries without their block: the follower encoded them again
    expect(entries.every((e) => !('bytes' in e))).toBe(true)
  })
})
