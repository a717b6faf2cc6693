import { once } from 'node:events'
import { Documents, IPFSAccessController, KeyValue, OWN_DATABASES, isValidAddress, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import { Cleanups, seen, startPeer } from './helpers.js'
import type { TestPeer } from './helpers.js'
import type { BusEvents } from '@npp/bus'
import type { KeyValueDatabase } from '@npp/transport'

const cleanups = new Cleanups()
afterEach(async () => { await cleanups.run() })

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** A well-formed OrbitDB address that no peer has: a real one with its last digest character changed */
function missingAddress (real: string): string {
  const last = real.at(-1)!
  const other = BASE58[(BASE58.indexOf(last) + 1) % BASE58.length]!
  const address = real.slice(0, -1) + other
  expect(isValidAddress(address)).toBe(true)
  return address
}

/** A hostile peer: a bare transport (no discovery) that creates real dbs and announces them to `target` */
async function hostile (target: TestPeer): Promise<TestPeer & { announce: (payload: Record<string, unknown>) => Promise<void> }> {
  const h = await startPeer(cleanups, 'hostile', { discovery: false })
  await h.transport.connect(target.transport.multiaddrs[0]!)
  return {
    ...h,
    announce: async (payload) => { await h.transport.send(target.transport.peerId, payload) }
  }
}

const announcement = (userDb: string): Record<string, unknown> => ({ type: 'npp/announce', v: 1, userDb })

describe('announcements from a hostile peer', () => {
  it('rejects each bad announcement with its reason, adds no companion, and still discovers a valid peer', async () => {
    // a generous rate limit: this test sends more than the default 10 announcements
    const a = await startPeer(cleanups, 'target', { replicationTimeoutMs: 1_500, rateLimit: { announcements: 100, windowMs: 10_000 } })
    const h = await hostile(a)
    const orbitdb = h.transport.orbitdb

    // real dbs of the hostile peer, each wrong in one way
    const pieces = await orbitdb.open('pieces', { Database: Documents({ indexBy: 'hash' }), type: 'documents' })
    const documents = await orbitdb.open('not-a-user-db', { Database: Documents({ indexBy: 'hash' }), type: 'documents' })
    const noPieces = await orbitdb.open('user-without-pieces', { Database: KeyValue(), type: 'keyvalue' })
    await noPieces.put('username', 'mallory')
    await noPieces.put('nodeId', h.transport.peerId)
    const someoneElse = await orbitdb.open('user-of-someone-else', { Database: KeyValue(), type: 'keyvalue' })
    await someoneElse.put('username', 'mallory')
    await someoneElse.put('pieces', pieces.address)
    await someoneElse.put('nodeId', a.transport.peerId)
    const piecesNotDocuments = await orbitdb.open('user-with-kv-pieces', { Database: KeyValue(), type: 'keyvalue' })
    await piecesNotDocuments.put('username', 'mallory')
    await piecesNotDocuments.put('pieces', noPieces.address)
    await piecesNotDocuments.put('nodeId', h.transport.peerId)
    // a profile only through keys that name Object.prototype's members: OrbitDB 4's KeyValue
    // iterator already skips them, and discovery reads own fields only (see machine.test.ts)
    const prototypeKeys = await orbitdb.open('user-prototype-keys', { Database: KeyValue(), type: 'keyvalue' })
    const inherited = { username: 'mallory', pieces: pieces.address, nodeId: h.transport.peerId }
    await prototypeKeys.put('__proto__', inherited)
    await prototypeKeys.put('constructor', inherited)
    await prototypeKeys.put('username', 'mallory')
    await prototypeKeys.put('nodeId', h.transport.peerId)
    const anyoneWrites = await orbitdb.open('user-anyone-writes', {
      Database: KeyValue(), type: 'keyvalue', AccessController: IPFSAccessController({ write: ['*'] })
    })
    await anyoneWrites.put('username', 'mallory')

    const ownCompanions = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.companions, KeyValue())

    const rejections: Array<BusEvents['discovery:rejected']> = []
    a.bus.on('discovery:rejected', (e) => { rejections.push(e) })
    const expectRejection = async (reason: string, send: () => Promise<void>): Promise<BusEvents['discovery:rejected']> => {
      const rejected = a.bus.waitFor('discovery:rejected', (e) => e.reason === reason, { timeoutMs: 10_000 })
      await send()
      return await rejected
    }

    // not JSON: refused by the transport before discovery sees it
    const notJson = a.bus.waitFor('message:rejected', (e) => e.reason === 'not-json', { timeoutMs: 10_000 })
    await h.transport.libp2p.services.pubsub.publish(a.transport.peerId, new TextEncoder().encode('{"type":"npp/announce",'))
    expect((await notJson).from).toBe(h.transport.peerId)

    const badShapes = [
      { userDb: pieces.address }, // the tutorial's message: no type, no version
      announcement('/orbitdb/not-a-cid'),
      { ...announcement(noPieces.address), v: 2 },
      { ...announcement(noPieces.address), extra: true }
    ]
    for (const payload of badShapes) {
      const r = await expectRejection('bad-shape', async () => { await h.announce(payload) })
      expect(r.from).toBe(h.transport.peerId)
    }
    const rejectionsOf = (reason: string): number => rejections.filter((r) => r.reason === reason).length
    expect(rejectionsOf('bad-shape')).toBe(badShapes.length)

    const cases: Array<[reason: string, userDb: string]> = [
      ['not-found', missingAddress(noPieces.address)],
      ['wrong-type', documents.address],
      ['no-pieces', noPieces.address],
      ['no-pieces', prototypeKeys.address],
      ['node-id-mismatch', someoneElse.address],
      ['pieces-wrong-type', piecesNotDocuments.address],
      ['bad-access', anyoneWrites.address],
      ['own-db', a.discovery!.userDbAddress],
      ['own-db', ownCompanions.address] // any db we own: opening it would hand us our own instance
    ]
    for (const [reason, userDb] of cases) {
      const r = await expectRejection(reason, async () => { await h.announce(announcement(userDb)) })
      expect({ from: r.from, userDb: r.userDb }).toEqual({ from: h.transport.peerId, userDb })
    }
    // our own db is still open and writable: it was never opened (nor closed) for the announcement
    await ownCompanions.put('still', 'open')
    // a db of the wrong type is never opened as KeyValue: its manifest is read first
    expect(seen(a, 'db:replicated').map((e) => e.userDb)).not.toContain(documents.address)

    // the target is still running and discovers a well-behaved peer
    const b = await startPeer(cleanups, 'valid')
    const discovered = a.bus.waitFor('companion:discovered', undefined, { timeoutMs: 15_000 })
    await b.transport.connect(a.transport.multiaddrs[0]!)
    expect((await discovered).profile.nodeId).toBe(b.transport.peerId)
    expect(seen(a, 'companion:discovered').map((e) => e.profile.nodeId)).toEqual([b.transport.peerId])
    expect(a.discovery!.actor.getSnapshot().value).toBe('running')
    // every db opened for a rejected announcement was closed again
    expect(Object.keys(a.discovery!.actor.getSnapshot().context.opened)).toEqual([])
    expect(Object.keys(a.discovery!.actor.getSnapshot().context.known)).toEqual([b.discovery!.userDbAddress])
  })

  it('rate-limits a flooding peer and bounds the work queue', async () => {
    // no retries: a full queue refuses at once (test/machine.test.ts covers the retries)
    const a = await startPeer(cleanups, 'flooded', {
      replicationTimeoutMs: 1_000, maxConcurrent: 1, maxQueued: 1, rateLimit: { announcements: 3, windowMs: 60_000 }, validationRetry: { attempts: 1 }
    })
    const h = await hostile(a)
    const seed = await h.transport.orbitdb.open('seed', { Database: KeyValue(), type: 'keyvalue' })
    // five distinct dbs that do not exist: each would hold a slot for the whole bounded wait
    const addresses: string[] = []
    let next = seed.address
    for (let i = 0; i < 5; i++) { next = missingAddress(next); addresses.push(next) }

    const reasons: string[] = []
    a.bus.on('discovery:rejected', (e) => { reasons.push(e.reason) })
    const twoRateLimited = new Promise<void>((resolve) => {
      a.bus.on('discovery:rejected', () => { if (reasons.filter((r) => r === 'rate-limited').length === 2) resolve() })
    })
    for (const userDb of addresses) await h.announce(announcement(userDb))
    await twoRateLimited
    // 3 passed the limiter: 1 validating, 1 queued, 1 dropped; the two that were accepted time out later
    await a.bus.waitFor('discovery:rejected', () => reasons.filter((r) => r === 'not-found').length === 2, { timeoutMs: 10_000 })
    expect(reasons.sort()).toEqual(['not-found', 'not-found', 'queue-full', 'rate-limited', 'rate-limited'])
    expect(seen(a, 'db:announced').map((e) => e.userDb)).toEqual(addresses.slice(0, 2))
    expect(a.discovery!.actor.getSnapshot().value).toBe('running')
  })
})

describe('a peer with many user dbs', () => {
  it('keeps each validated user db of a peer until the companions package reports it replaced, then closes it without a tombstone', async () => {
    const a = await startPeer(cleanups, 'one-per-peer', { rateLimit: { announcements: 100, windowMs: 10_000 } })
    const h = await hostile(a)
    const orbitdb = h.transport.orbitdb
    const pieces = await orbitdb.open('pieces', { Database: Documents({ indexBy: 'hash' }), type: 'documents' })
    const dbs: KeyValueDatabase[] = []
    for (const name of ['user-1', 'user-2', 'user-3']) {
      const db = await orbitdb.open(name, { Database: KeyValue(), type: 'keyvalue' })
      await db.put('username', name)
      await db.put('pieces', pieces.address)
      await db.put('nodeId', h.transport.peerId)
      dbs.push(db)
    }
    const known = (): Record<string, { nodeId: string, db: KeyValueDatabase }> => a.discovery!.actor.getSnapshot().context.known
    let previous: string | undefined
    for (const db of dbs) {
      const discovered = a.bus.waitFor('companion:discovered', (e) => e.profile.userDb === db.address, { timeoutMs: 15_000 })
      await h.announce(announcement(db.address))
      await discovered
      expect(Object.keys(known())).toContain(db.address)
      if (previous != null) {
        // what @npp/companions emits when a newer db of the same peer replaces a record
        const closed = once(known()[previous]!.db.events, 'close')
        a.bus.emit('companion:removed', { userDb: previous, peerId: h.transport.peerId })
        await closed
      }
      expect(Object.keys(known())).toEqual([db.address])
      previous = db.address
    }
    expect(a.discovery!.removed()).toEqual([])
    expect(seen(a, 'discovery:rejected')).toEqual([])
  })
})
