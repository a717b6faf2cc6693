import { Documents, OWN_DATABASES, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import { DiscoveryNotStartedError, InvalidDiscoveryOptionError, createDiscovery } from '../src/index.js'
import { Cleanups, seen, startPeer } from './helpers.js'

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
