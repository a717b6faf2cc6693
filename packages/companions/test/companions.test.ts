import { KeyValue, OWN_DATABASES, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import { Cleanups, recordingLogger, startPeer, startProcess, tempDir } from './helpers.js'
import type { ChildEvent, Peer } from './helpers.js'
import type { CompanionStatus } from '../src/index.js'

const cleanups = new Cleanups()
afterEach(async () => { await cleanups.run() })

/** Resolves when `peer` has reported `peerId` online (also if it did so already, e.g. while starting) */
const online = async (peer: Peer, peerId: string): Promise<void> => {
  const match = (e: { peerId: string }): boolean => e.peerId === peerId
  if (peer.events.some((e) => e.type === 'companion:online' && match(e.event as { peerId: string }))) return
  await peer.bus.waitFor('companion:online', match, { timeoutMs: 20_000 })
}
const names = (list: CompanionStatus[]): string[] => list.map((c) => `${c.profile.nodeId}:${c.status}`).sort()

describe('companions in one process', () => {
  it('two peers that connect once keep each other as companions, online, with no other step', async () => {
    const a = await startPeer(cleanups, await tempDir(cleanups, 'a'))
    const b = await startPeer(cleanups, await tempDir(cleanups, 'b'))
    const bothOnline = Promise.all([online(a, b.transport.peerId), online(b, a.transport.peerId)])
    await b.transport.connect(a.transport.multiaddrs[0]!)
    await bothOnline

    const [atA] = await a.companions.list()
    expect(atA).toMatchObject({
      userDb: b.discovery.userDbAddress,
      status: 'online',
      profile: { userDb: b.discovery.userDbAddress, nodeId: b.transport.peerId, username: await b.catalog.profile.get('username') }
    })
    // what discovery announced is the catalog's user db
    expect(b.discovery.userDbAddress).toBe(b.catalog.userDbAddress)
    expect(atA!.multiaddrs.some((m) => m.endsWith(`/p2p/${b.transport.peerId}`))).toBe(true)
    expect(atA!.firstSeen).toBeLessThanOrEqual(atA!.lastSeen)
    expect(names(await b.companions.list())).toEqual([`${a.transport.peerId}:online`])
    // get() and list() read the same record (read together: its hosts may grow while it is online)
    const [[listed], got] = await Promise.all([a.companions.list(), a.companions.get(b.discovery.userDbAddress)])
    expect(got).toEqual(listed)
    expect(await a.companions.get('/orbitdb/unknown')).toBeUndefined()

    // b goes away: offline at once, from the disconnect event
    const bId = b.transport.peerId
    const bUserDb = b.discovery.userDbAddress
    const offline = a.bus.waitFor('companion:offline', (e) => e.peerId === bId, { timeoutMs: 10_000 })
    await b.stop()
    expect((await offline).profile.userDb).toBe(bUserDb)
    expect((await a.companions.get(bUserDb))?.status).not.toBe('online')
  })

  it('remove() forgets a companion for good: deleted, not discovered again (also after a restart) until readmitted', async () => {
    const repoA = await tempDir(cleanups, 'remove-a')
    let a = await startPeer(cleanups, repoA)
    const b = await startPeer(cleanups, await tempDir(cleanups, 'remove-b'))
    const bId = b.transport.peerId
    const bUserDb = b.discovery.userDbAddress
    const bOnline = online(a, bId)
    await a.transport.connect(b.transport.multiaddrs[0]!)
    await bOnline

    const removed = a.bus.waitFor('companion:removed', undefined, { timeoutMs: 10_000 })
    expect(await a.companions.remove(bUserDb)).toBe(true)
    expect(await removed).toEqual({ userDb: bUserDb, peerId: bId })
    expect(await a.companions.remove(bUserDb)).toBe(false)
    expect(await a.companions.list()).toEqual([])
    expect(Object.keys(a.companions.actor.getSnapshot().children).filter((id) => id.startsWith('companion-'))).toEqual([])

    // b (which still keeps a) comes back over a new connection and announces itself again: not re-added
    const rejected = (peer: Peer): Promise<unknown> =>
      peer.bus.waitFor('discovery:rejected', (e) => e.from === bId && e.reason === 'removed', { timeoutMs: 15_000 })
    const refused = rejected(a)
    const gone = a.bus.waitFor('peer:disconnected', (e) => e.peerId === bId, { timeoutMs: 10_000 })
    await a.transport.disconnect(bId)
    await gone
    await b.transport.connect(a.transport.multiaddrs[0]!)
    await refused
    expect(await a.companions.list()).toEqual([])

    // a restarts from its repo: the record stays deleted and the removal is remembered
    await a.stop()
    a = await startPeer(cleanups, repoA)
    expect(await a.companions.list()).toEqual([])
    const refusedAgain = rejected(a)
    await a.transport.connect(b.transport.multiaddrs[0]!)
    await refusedAgain
    expect(await a.companions.list()).toEqual([])
    expect(a.events.some((e) => e.type === 'companion:discovered')).toBe(false)

    // the user takes it back: validated again over the open connection
    const back = online(a, bId)
    expect(await a.discovery.readmit(bId)).toBe(1)
    await back
    expect(names(await a.companions.list())).toEqual([`${bId}:online`])
  })
})

describe('the companions db', () => {
  it('validates records when loading them back, skips damaged ones and cleans their addresses', async () => {
    const repo = await tempDir(cleanups, 'damaged')
    const logger = recordingLogger()
    let a = await startPeer(cleanups, repo)
    const db = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.companions, KeyValue())
    // real addresses of real dbs (no peer needs to hold them: nothing is opened)
    const user = await openOwnDatabase(a.transport.orbitdb, 'some-user', KeyValue())
    const pieces = await openOwnDatabase(a.transport.orbitdb, 'some-pieces', KeyValue())
    const nodeId = '12D3KooWNJc1eb7N7bhEuRYWhAnXZfhdr8hDMHcQ5ywqcHJTi7FQ'
    const good = {
      userDb: user.address,
      multiaddrs: ['/ip4/127.0.0.1/tcp/1', '/dns4/example.com/tcp/443', `/ip4/127.0.0.1/tcp/2/p2p/${a.transport.peerId}`],
      firstSeen: 1,
      lastSeen: 2,
      profile: { userDb: user.address, username: 'good', pieces: pieces.address, nodeId }
    }
    await db.put(good.userDb, good)
    await db.put('/orbitdb/zdpuBad', { userDb: '/orbitdb/zdpuBad', profile: 'not a profile' })
    await db.put(pieces.address, { ...good, userDb: pieces.address }) // stored under another key than its profile's
    const notAnAddress = '/orbitdb/not-a-cid'
    await db.put(notAnAddress, { ...good, userDb: notAnAddress, profile: { ...good.profile, userDb: notAnAddress } })
    await a.stop()
    a = await startPeer(cleanups, repo, { logger })
    expect((await a.companions.list()).map((c) => [c.userDb, c.multiaddrs])).toEqual([[good.userDb, [`/ip4/127.0.0.1/tcp/1/p2p/${nodeId}`]]])
    expect(a.companions.actor.getSnapshot().context.invalid).toBe(3)
    // the injected logger is the one companions logs to
    const skipped = logger.lines.filter((l) => l[0] === 'skipping an invalid companion record under %s: %s')
    expect(skipped.map((l) => l[1])).toEqual(expect.arrayContaining(['/orbitdb/zdpuBad', pieces.address, notAnAddress]))
    // each with the reason, in one line
    expect(skipped.find((l) => l[1] === '/orbitdb/zdpuBad')?.[2]).toMatch(/(^|; )profile: /)
    expect(skipped.find((l) => l[1] === pieces.address)?.[2]).toBe('stored under another key than its userDb')
  })
})

describe('companions across OS processes', () => {
  it('three peers, one in its own process, are all companions of each other', async () => {
    const a = await startPeer(cleanups, await tempDir(cleanups, 'tri-a'))
    const b = await startPeer(cleanups, await tempDir(cleanups, 'tri-b'))
    const { proc: c, ready } = await startProcess(cleanups, await tempDir(cleanups, 'tri-c'))
    const cId = String(ready.peerId)
    const cOnline = (peerId: string): Promise<ChildEvent> => c.next('companion:online', (e) => e.peerId === peerId)

    const all = Promise.all([
      online(a, b.transport.peerId), online(a, cId),
      online(b, a.transport.peerId), online(b, cId),
      cOnline(a.transport.peerId), cOnline(b.transport.peerId)
    ])
    await a.transport.connect(b.transport.multiaddrs[0]!)
    const cAddr = (ready.multiaddrs as string[])[0]!
    await a.transport.connect(cAddr)
    await b.transport.connect(cAddr)
    await all

    expect(names(await a.companions.list())).toEqual([`${b.transport.peerId}:online`, `${cId}:online`].sort())
    expect(names(await b.companions.list())).toEqual([`${a.transport.peerId}:online`, `${cId}:online`].sort())
    c.command({ cmd: 'list' })
    const listed = (await c.next('list')).companions as CompanionStatus[]
    expect(names(listed)).toEqual([`${a.transport.peerId}:online`, `${b.transport.peerId}:online`].sort())
  })

  it('a SIGKILLed companion goes offline and comes back online by itself; so after the observer restarts', async () => {
    const repoA = await tempDir(cleanups, 'kill-a')
    const repoC = await tempDir(cleanups, 'kill-c')
    let a = await startPeer(cleanups, repoA)
    // c redials slowly, so that a's own reload-and-redial is what brings them together after a restarts
    const slow = { backoff: { initialMs: 60_000, maxMs: 60_000 } }
    let { proc: c, ready } = await startProcess(cleanups, repoC, slow)
    const cId = String(ready.peerId)
    const cUserDb = String(ready.userDb)

    const aHasC = online(a, cId)
    await a.transport.connect((ready.multiaddrs as string[])[0]!)
    await aHasC
    await c.next('companion:online', (e) => e.peerId === a.transport.peerId)

    // kill -9: a sees the TCP connection close and reports c offline at once
    const offline = a.bus.waitFor('companion:offline', (e) => e.peerId === cId, { timeoutMs: 10_000 })
    await c.kill()
    expect((await offline).userDb).toBe(cUserDb)
    expect((await a.companions.get(cUserDb))?.status).not.toBe('online')

    // restart c from the same repo (on a new port): it reloads a from its db and dials it
    const backOnline = a.bus.waitFor('companion:online', (e) => e.peerId === cId, { timeoutMs: 20_000 })
    ;({ proc: c, ready } = await startProcess(cleanups, repoC, slow))
    expect(ready.peerId).toBe(cId)
    await backOnline
    await c.next('companion:online', (e) => e.peerId === a.transport.peerId)
    expect((await a.companions.get(cUserDb))?.status).toBe('online')
    // a refreshes c's addresses (c listens on new ports now) while c is online
    const newAddresses = (ready.multiaddrs as string[]).map(String)

    // now restart the observer: c reports a offline, a reloads c from its db and redials it
    const aId = a.transport.peerId
    const cSeesAOffline = c.upcoming('companion:offline', (e) => e.peerId === aId)
    await waitForAddresses(a, cUserDb, newAddresses)
    await a.stop()
    await cSeesAOffline
    const cSeesAOnline = c.upcoming('companion:online', (e) => e.peerId === aId)
    a = await startPeer(cleanups, repoA)
    expect(a.transport.peerId).toBe(aId)
    await online(a, cId)
    await cSeesAOnline
    expect(names(await a.companions.list())).toEqual([`${cId}:online`])
  })
})

/** Wait (event-driven) until a's record of a companion holds the given addresses */
async function waitForAddresses (a: Peer, userDb: string, expected: string[]): Promise<void> {
  const has = (): boolean => {
    const record = a.companions.actor.getSnapshot().context.records[userDb]
    return record != null && expected.every((m) => record.multiaddrs.includes(m))
  }
  if (has()) return
  await new Promise<void>((resolve) => {
    const sub = a.companions.actor.subscribe(() => { if (has()) { sub.unsubscribe(); resolve() } })
  })
}
