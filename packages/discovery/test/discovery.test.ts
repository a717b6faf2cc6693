import { once } from 'node:events'
import { Documents, OWN_DATABASES, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import { DiscoveryNotStartedError, InvalidDiscoveryOptionError, createDiscovery } from '../src/index.js'
import { Cleanups, noCompanions, recordingLogger, seen, startPeer } from './helpers.js'
import type { TestPeer } from './helpers.js'

const cleanups = new Cleanups()
afterEach(async () => { await cleanups.run() })

describe('discovery between two peers', () => {
  it('connecting once makes each peer discover the other, with a validated profile', async () => {
    const a = await startPeer(cleanups, 'a', { profile: { username: 'alice', instrument: 'cello' } })
    const b = await startPeer(cleanups, 'b')
    const t0 = Date.now()
    const atA = a.bus.waitFor('companion:discovered', (e) => e.profile.nodeId === b.transport.peerId, { timeoutMs: 15_000 })
    const atB = b.bus.waitFor('companion:discovered', (e) => e.profile.nodeId === a.transport.peerId, { timeoutMs: 15_000 })
    await b.transport.connect(a.transport.multiaddrs[0]!)
    const [seenByA, seenByB] = await Promise.all([atA, atB]).catch((err) => { console.log(JSON.stringify(a.events.map((e) => [e.type, e.event]), null, 1).slice(0, 4000)); throw err })
    console.log(`discovered both ways in ${Date.now() - t0} ms`)

    const aPieces = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    expect(seenByB.profile).toEqual({ userDb: a.discovery!.userDbAddress, username: 'alice', pieces: aPieces.address, nodeId: a.transport.peerId })
    expect(seenByB.multiaddrs.some((m) => m.endsWith(`/p2p/${a.transport.peerId}`))).toBe(true)
    expect(seenByA.profile.userDb).toBe(b.discovery!.userDbAddress)
    expect(seenByA.profile.username).toMatch(/^musician-\d{6}$/)
    expect(a.discovery!.userDbAddress).toBe(a.catalog.userDbAddress)
    expect(seen(a, 'db:announced').map((e) => e.userDb)).toEqual([b.discovery!.userDbAddress])
    expect(seen(a, 'db:replicated')[0]?.entries).toBeGreaterThanOrEqual(3)
    expect(seen(a, 'discovery:rejected')).toEqual([])
  })
})

describe('discovery lifecycle', () => {
  it('announces the catalog\'s user db, checks its options, and start/stop are safe twice', async () => {
    const a = await startPeer(cleanups, 'lifecycle', { discovery: false })
    const init = { bus: a.bus, transport: a.transport, catalog: a.catalog, companions: noCompanions }
    expect(() => createDiscovery({ ...init, maxConcurrent: 0 })).toThrow(InvalidDiscoveryOptionError)
    expect(() => createDiscovery({ ...init, announceRetry: { attempts: 0 } })).toThrow(InvalidDiscoveryOptionError)
    expect(() => createDiscovery({ ...init, validationRetry: { initialMs: -1 } })).toThrow(InvalidDiscoveryOptionError)
    const logger = recordingLogger()
    const first = createDiscovery({ ...init, logger })
    expect(() => first.userDbAddress).toThrow(DiscoveryNotStartedError)
    await first.start()
    await first.start()
    expect(first.userDbAddress).toBe(a.catalog.userDbAddress)
    // the injected logger is the one discovery logs to
    expect(logger.lines.map((l) => String(l[0]))).toEqual(expect.arrayContaining([expect.stringMatching(/^started/)]))
    await first.stop()
    await first.stop()
    expect(() => first.userDbAddress).toThrow(DiscoveryNotStartedError)
  })

  it('cannot start before the catalog: it says what to start first', async () => {
    const a = await startPeer(cleanups, 'no-catalog', { discovery: false })
    await a.catalog.stop()
    const discovery = createDiscovery({ bus: a.bus, transport: a.transport, catalog: a.catalog, companions: noCompanions, accept: 'all' })
    await expect(discovery.start()).rejects.toThrow(/start the transport and the catalog first/)
  })
})

describe('removed companions', () => {
  /** b reconnects to a; resolves with a's verdict on b's announcement */
  async function reconnect (a: TestPeer, b: TestPeer): Promise<string> {
    const bId = b.transport.peerId
    if (a.transport.isConnected(bId)) {
      const gone = a.bus.waitFor('peer:disconnected', (e) => e.peerId === bId, { timeoutMs: 10_000 })
      await b.transport.disconnect(a.transport.peerId)
      await gone
    }
    const verdict = Promise.race([
      a.bus.waitFor('discovery:rejected', (e) => e.from === bId, { timeoutMs: 15_000 }).then((e) => e.reason),
      a.bus.waitFor('companion:discovered', (e) => e.profile.nodeId === bId, { timeoutMs: 15_000 }).then(() => 'discovered')
    ])
    await b.transport.connect(a.transport.multiaddrs[0]!)
    return await verdict
  }

  it('closes a removed companion\'s db and does not discover it again, also after a restart, until it is readmitted', async () => {
    const a = await startPeer(cleanups, 'remover')
    const b = await startPeer(cleanups, 'removed')
    const bId = b.transport.peerId
    const bUserDb = b.discovery!.userDbAddress
    expect(await reconnect(a, b)).toBe('discovered')
    const bDb = a.discovery!.actor.getSnapshot().context.known[bUserDb]!.db

    // what @npp/companions emits when the user removes it
    const closed = once(bDb.events, 'close')
    a.bus.emit('companion:removed', { userDb: bUserDb, peerId: bId })
    await closed
    expect(a.discovery!.actor.getSnapshot().context.known).toEqual({})
    expect(a.discovery!.removed()).toEqual([{ userDb: bUserDb, nodeId: bId }])
    expect(await reconnect(a, b)).toBe('removed')

    // a new discovery on the same node reads the tombstone back from its db
    await a.discovery!.stop()
    const again = createDiscovery({ bus: a.bus, transport: a.transport, catalog: a.catalog, companions: noCompanions, accept: 'all' })
    await again.start()
    cleanups.add(async () => { await again.stop() })
    expect(again.removed()).toEqual([{ userDb: bUserDb, nodeId: bId }])
    expect(await reconnect(a, b)).toBe('removed')
    expect(seen(a, 'companion:discovered').map((e) => e.profile.nodeId)).toEqual([bId])

    // readmitted while connected: validated again at once
    const discovered = a.bus.waitFor('companion:discovered', (e) => e.profile.nodeId === bId, { timeoutMs: 15_000 })
    expect(await again.readmit(bId)).toBe(1)
    expect((await discovered).profile.userDb).toBe(bUserDb)
    expect(again.removed()).toEqual([])
    expect(await again.readmit(bId)).toBe(0)
  })
})
