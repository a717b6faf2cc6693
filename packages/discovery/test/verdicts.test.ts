import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { createActor, toPromise } from 'xstate'
import { readManifests, validateProfile, waitReplicated } from '../src/announcement.actors.js'
import { silentLogger } from './helpers.js'
import type { KeyValueDatabase, Transport } from '@npp/transport'

// What the validation's actors make of failures that come from load or time, not from the
// db: a fetch that threw, heads that came but could not be joined. Fakes, no network.

const USER_DB = '/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAWt'
const PIECES = '/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAWA'
/** dag-cbor of { name: 'user', type: 'keyvalue', accessController: '/ipfs/zdpu...WAWt' }: a KeyValue db's manifest */
const KEYVALUE_MANIFEST = Uint8Array.from(Buffer.from('a3646e616d6564757365726474797065686b657976616c756570616363657373436f6e74726f6c6c657278372f697066732f7a64707541706d69754b6a5a6b6348634a746455347a6b32766170754135505a4b536142417247554c61364a5957415774', 'hex'))

/**
 * Helia's `blockstore.get` as it fails on a busy machine without being aborted: after it
 * fetched (and stored) a block it tells the peers that want it too, and a dial to one of
 * them that timed out rejects the whole `get`.
 */
const failingFetch = new Error('dialling a peer that wants the block too timed out')

/** A transport whose blockstore yields `blocks` in turn, then fails like {@link failingFetch} */
function transportServing (...blocks: Uint8Array[]): Transport {
  const queue = [...blocks]
  return {
    helia: {
      blockstore: {
        async * get () {
          const next = queue.shift()
          if (next == null) throw failingFetch
          yield next
        }
      }
    },
    orbitdb: { identity: { id: 'us' } }
  } as unknown as Transport
}

describe('readManifests: a manifest fetch that failed is not a verdict on the db', () => {
  const read = async (transport: Transport) => await toPromise(createActor(readManifests, { input: { transport, userDb: USER_DB, from: '12D3KooWHSdvcoZKmWSa8WyKVqFFHmWEJeD1pyb3i1RBcqX2ZUrW', log: silentLogger } }).start())

  it('retries a db whose manifest fetch threw (was: wrong-type, final)', async () => {
    expect(await read(transportServing())).toMatchObject({ ok: false, reason: 'replication-timeout', detail: expect.stringContaining(failingFetch.message) })
  })

  it('retries a db whose access controller manifest fetch threw (was: bad-access, final)', async () => {
    expect(await read(transportServing(KEYVALUE_MANIFEST))).toMatchObject({ ok: false, reason: 'replication-timeout' })
  })

  it('still refuses for good what the manifest says: another type', async () => {
    // the same manifest with type 'keyvaluf' (same length, still canonical dag-cbor)
    const other = Buffer.from(KEYVALUE_MANIFEST)
    other.write('keyvaluf', other.indexOf('keyvalue'), 'latin1')
    expect(await read(transportServing(other))).toMatchObject({ ok: false, reason: 'wrong-type', detail: expect.stringContaining('is a keyvaluf db') })
  })
})

describe('validateProfile: a pieces manifest fetch that failed is not a verdict on the catalog', () => {
  it('says pieces-not-found (retried), not pieces-wrong-type (final)', async () => {
    const db = { address: USER_DB, all: async () => [{ key: 'username', value: 'alice' }, { key: 'pieces', value: PIECES }, { key: 'nodeId', value: 'p1' }] } as unknown as KeyValueDatabase
    const output = await toPromise(createActor(validateProfile, { input: { transport: transportServing(), db, userDb: USER_DB, from: 'p1', log: silentLogger } }).start())
    expect(output).toMatchObject({ ok: false, reason: 'pieces-not-found', detail: expect.stringContaining(failingFetch.message) })
  })
})

describe('waitReplicated: heads that came but could not be joined are no replicated db', () => {
  /**
   * A db as OrbitDB hands it over: starting its sync exchanges heads with the announcer,
   * then emits `join` for it. OrbitDB emits that `join` also when joining its heads failed
   * (an entry or the writer's identity did not arrive in time; it only logs the error),
   * and then the log holds nothing of them.
   */
  function dbJoining (entries: unknown[]): KeyValueDatabase {
    const events = new EventEmitter()
    return {
      address: USER_DB,
      events,
      sync: { start: async () => { setImmediate(() => { events.emit('join', 'p1', []) }) } },
      log: { values: async () => entries }
    } as unknown as KeyValueDatabase
  }
  const transport = { libp2p: { services: { pubsub: { getSubscribers: () => [] } } } } as unknown as Transport
  const wait = async (db: KeyValueDatabase) => await toPromise(createActor(waitReplicated, { input: { transport, db, from: 'p1', log: silentLogger } }).start())

  it('rejects after the announcer\'s join when no entry could be joined (was: validated as an empty profile, no-pieces, final)', async () => {
    await expect(wait(dbJoining([]))).rejects.toMatchObject({ name: 'HeadsNotJoinedError', kind: 'timeout' })
  })

  it('resolves with the entries joined', async () => {
    expect(await wait(dbJoining([{}, {}, {}]))).toEqual({ entries: 3, via: 'p1' })
  })
})
