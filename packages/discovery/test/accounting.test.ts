/**
 * Regression tests for what the reliability suite's hostile peer found
 * (tests/reliability/test/hostile.test.ts): a profile could claim someone
 * else's catalog, and a repeated announcement vanished without an outcome.
 */
import { Documents, KeyValue, OWN_DATABASES, isValidAddress, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import { Cleanups, seen, startPeer } from './helpers.js'

const cleanups = new Cleanups()
afterEach(async () => { await cleanups.run() })

const announcement = (userDb: string): Record<string, unknown> => ({ type: 'npp/announce', v: 1, userDb })

describe('what the hostile suite found', () => {
  it("rejects a profile whose pieces db belongs to someone else (pieces-not-owned), and accepts the owner's own", async () => {
    const a = await startPeer(cleanups, 'target', { replicationTimeoutMs: 5_000 })
    // carol's catalog: a pieces db only carol's identity can write
    const carol = await startPeer(cleanups, 'carol', { discovery: false })
    const carolsPieces = await openOwnDatabase(carol.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    await carol.transport.connect(a.transport.multiaddrs[0]!)
    // mallory: a well-formed profile of her own that names carol's catalog
    const mallory = await startPeer(cleanups, 'mallory', { discovery: false })
    const profile = await openOwnDatabase(mallory.transport.orbitdb, OWN_DATABASES.user, KeyValue())
    await profile.put('username', 'mallory')
    await profile.put('pieces', carolsPieces.address)
    await profile.put('nodeId', mallory.transport.peerId)
    await mallory.transport.connect(a.transport.multiaddrs[0]!)

    const rejected = a.bus.waitFor('discovery:rejected', (e) => e.userDb === profile.address, { timeoutMs: 15_000 })
    await mallory.transport.send(a.transport.peerId, announcement(profile.address))
    expect(await rejected).toMatchObject({ from: mallory.transport.peerId, reason: 'pieces-not-owned' })
    expect(seen(a, 'companion:discovered')).toEqual([])

    // the same profile pointing at mallory's own pieces db is a companion
    const own = await openOwnDatabase(mallory.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    await profile.put('pieces', own.address)
    const discovered = a.bus.waitFor('companion:discovered', (e) => e.profile.userDb === profile.address, { timeoutMs: 15_000 })
    await mallory.transport.send(a.transport.peerId, announcement(profile.address))
    expect((await discovered).profile).toMatchObject({ nodeId: mallory.transport.peerId, pieces: own.address })
  })

  it("answers an announcement repeated while the first is validated with 'duplicate': every announcement has an outcome", async () => {
    const a = await startPeer(cleanups, 'target', { replicationTimeoutMs: 1_000 })
    const h = await startPeer(cleanups, 'hostile', { discovery: false })
    await h.transport.connect(a.transport.multiaddrs[0]!)
    const seed = await h.transport.orbitdb.open('seed', { Database: KeyValue(), type: 'keyvalue' })
    // a well-formed address that exists nowhere: its validation waits for the whole timeout
    const missing = seed.address.slice(0, -1) + (seed.address.endsWith('a') ? 'b' : 'a')
    expect(isValidAddress(missing)).toBe(true)

    const reasons: string[] = []
    a.bus.on('discovery:rejected', (e) => { reasons.push(e.reason) })
    const duplicates = a.bus.waitFor('discovery:rejected', () => reasons.filter((r) => r === 'duplicate').length === 2, { timeoutMs: 10_000 })
    for (let i = 0; i < 3; i++) await h.transport.send(a.transport.peerId, announcement(missing))
    await duplicates
    await a.bus.waitFor('discovery:rejected', (e) => e.reason === 'not-found', { timeoutMs: 10_000 })
    expect(reasons.sort()).toEqual(['duplicate', 'duplicate', 'not-found'])
    expect(seen(a, 'db:announced')).toHaveLength(1)
  })
})
