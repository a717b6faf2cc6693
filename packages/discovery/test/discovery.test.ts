import { once } from 'node:events'
import { Documents, KeyValue, OWN_DATABASES, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import { DiscoveryNotStartedError, InvalidDiscoveryOptionError, createDiscovery } from '../src/index.js'
import { Cleanups, recordingLogger, seen, startPeer } from './helpers.js'
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
    expect(await a.discovery!.userDb.get('instrument')).toBe('cello')
    expect(seen(a, 'db:announced').map((e) => e.userDb)).toEqual([b.discovery!.userDbAddress])
    expect(seen(a, 'db:replicated')[0]?.entries).toBeGreaterThanOrEqual(3)
    expect(seen(a, 'discovery:rejected')).toEqual([])
  })
})

describe('discovery lifecycle', () => {
  it('writes the fixture profile on first start only, and start/stop are safe twice', async () => {
    const a = await startPeer(cleanups, 'lifecycle', { discovery: false })
    expect(() => createDiscovery({ bus: a.bus, transport: a.transport, maxConcurrent: 0 })).toThrow(InvalidDiscoveryOptionError)
    expect(() => createDiscovery({ bus: a.bus, transport: a.transport, announceRetry: { attempts: 0 } })).toThrow(InvalidDiscoveryOptionError)
    const first = createDiscovery({ bus: a.bus, transport: a.transport, profile: { instrument: 'flute' } })
    expect(() => first.userDbAddress).toThrow(DiscoveryNotStartedError)
    await first.start()
    await first.start()
    const address = first.userDbAddress
    const profile = Object.fromEntries((await first.userDb.all()).map((e) => [e.key, e.value]))
    expect(profile).toMatchObject({ instrument: 'flute', nodeId: a.transport.peerId })
    expect(profile.username).toMatch(/^musician-\d{6}$/)
    await first.stop()
    await first.stop()
    expect(() => first.userDb).toThrow(DiscoveryNotStartedError)

    // started again (another instance, other options): same db, the fixture is not rewritten
    const again = createDiscovery({ bus: a.bus, transport: a.transport, profile: { instrument: 'oboe', username: 'other' } })
    await again.start()
    cleanups.add(async () => { await again.stop() })
    expect(again.userDbAddress).toBe(address)
    expect(Object.fromEntries((await again.userDb.all()).map((e) => [e.key, e.value]))).toEqual(profile)
  })
})

describe('our profile', () => {
  it('completes a partial profile field by field: keeps the user\'s username and fields, adds pieces, repairs nodeId', async () => {
    const a = await startPeer(cleanups, 'partial', { discovery: false })
    // as left by a start that crashed between two writes, with a nodeId of another peer
    const user = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.user, KeyValue())
    await user.put('username', 'alice')
    await user.put('nodeId', '12D3KooWHSdvcoZKmWSa8WyKVqFFHmWEJeD1pyb3i1RBcqX2ZUrW')
    await user.put('instrument', 'viola')
    const logger = recordingLogger()
    const profile = { username: 'fixture', instrument: 'cello', city: 'Graz' }
    let discovery = createDiscovery({ bus: a.bus, transport: a.transport, profile, logger })
    await discovery.start()
    const pieces = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    const expected = { username: 'alice', instrument: 'viola', city: 'Graz', pieces: pieces.address, nodeId: a.transport.peerId }
    const fields = async (): Promise<Record<string, unknown>> => Object.fromEntries((await user.all()).map((e) => [e.key, e.value]))
    expect(await fields()).toEqual(expected)
    // the injected logger is the one discovery logs to
    expect(logger.lines.map((l) => String(l[0]))).toEqual(expect.arrayContaining([expect.stringMatching(/^wrote %s to our profile/), expect.stringMatching(/^started/)]))
    await discovery.stop()

    // a profile that lost its pieces (or never had it) gets it back on the next start, and nothing else changes
    await user.del('pieces')
    discovery = createDiscovery({ bus: a.bus, transport: a.transport, profile })
    await discovery.start()
    cleanups.add(async () => { await discovery.stop() })
    expect(await fields()).toEqual(expected)
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
    const again = createDiscovery({ bus: a.bus, transport: a.transport })
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
