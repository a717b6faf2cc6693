import { createBus } from '@npp/bus'
import { describe, expect, it } from 'vitest'
import { SimulatedClock, createActor, fromCallback, fromPromise } from 'xstate'
import { backoffDelay } from '@npp/kit'
import { MAX_HOSTS, MAX_MULTIADDRS, companionMultiaddr, companionMultiaddrs, dialPlan, mergeHosts } from '../src/addresses.js'
import { companionActorId, companionMachine } from '../src/companion.machine.js'
import { companionsMachine } from '../src/companions.machine.js'
import type { CheckInput, DialInput, WatchAddressesInput } from '../src/companion.actors.js'
import type { Backoff } from '../src/companion.machine.js'
import type { LoadInput, LoadOutput, StoreCommand, StoreInput, StoreReport } from '../src/companions.actors.js'
import type { CompanionsEmitted } from '../src/companions.machine.js'
import type { CompanionRecord } from '../src/schema.js'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

// Unit tests of the machines with their side effects swapped out by .provide():
// no network, a simulated clock for the backoff delays.

// companions redial on kit's schedule: attempt 0 = the first redial after going offline
describe('backoffDelay (of @npp/kit, as companions uses it)', () => {
  const options: Backoff = { initialMs: 1_000, maxMs: 30_000, factor: 2, jitter: 0.2 }

  it('grows by the factor from initialMs and caps at maxMs', () => {
    const noJitter = (attempt: number): number => backoffDelay(attempt, options, () => 0)
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(noJitter)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
  })

  it('keeps the jittered delay within (1 - jitter) of the delay and never above maxMs', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = backoffDelay(attempt, options, () => 0)
      for (const r of [0, 0.001, 0.25, 0.5, 0.75, 0.999, 1]) {
        const d = backoffDelay(attempt, options, () => r)
        expect(d).toBeLessThanOrEqual(base)
        expect(d).toBeGreaterThanOrEqual(Math.floor(base * (1 - options.jitter)))
        expect(d).toBeLessThanOrEqual(options.maxMs)
      }
    }
    // jitter 0 is deterministic, jitter 1 may go down to 0
    expect(backoffDelay(2, { ...options, jitter: 0 }, () => 0.9)).toBe(4_000)
    expect(backoffDelay(2, { ...options, jitter: 1 }, () => 1)).toBe(0)
  })
})

const PEER = '12D3KooWNJc1eb7N7bhEuRYWhAnXZfhdr8hDMHcQ5ywqcHJTi7FQ'
const NEWCOMER = '12D3KooWBncQrT3LvMakFwVvm65VSCWgexj9xMmcAPZeNjKbNJhM'
const EARLY_PEER = '12D3KooWRT5XbfCQmGgq5ZxqYmLZtLhKsHMCRjsouZDeDrGnjPFW'
/** Well-formed OrbitDB addresses (base58btc CIDs); `db(n)` are distinct */
const db = (n: number): string => `/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAW${'ABCDEFGHJKrt'[n]}`
const PIECES = db(11)
const record: CompanionRecord = {
  userDb: db(0),
  profile: { userDb: db(0), username: 'bob', pieces: PIECES, nodeId: PEER },
  multiaddrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`],
  hosts: ['127.0.0.1'],
  firstSeen: 1,
  lastSeen: 1
}
const silent: Logger = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {}, newScope: (): Logger => silent })

interface HarnessOptions {
  /** Peers the fake transport reports connected (the test may change it) */
  connected?: Set<string>
  /** Resolves the load of the companions db; default at once */
  loaded?: Promise<void>
  /** Resolves every connection check (which then asks the fake transport); default at once */
  checked?: Promise<void>
}

function harness (backoff: Backoff, { connected = new Set(), loaded, checked }: HarnessOptions = {}) {
  const bus = createBus()
  const clock = new SimulatedClock()
  const dials: Array<{ at: number, multiaddrs: string[] }> = []
  const writes: StoreCommand[] = []
  const transport = { isConnected: (peerId: string) => connected.has(peerId) } as unknown as Transport
  const machine = companionsMachine.provide({
    actors: {
      loadCompanions: fromPromise<LoadOutput, LoadInput>(async () => {
        await loaded
        return { db: {} as KeyValueDatabase<CompanionRecord>, records: { [record.userDb]: record }, invalid: 0 }
      }),
      store: fromCallback<StoreCommand, StoreInput>(({ receive, sendBack }) => {
        receive((command) => {
          writes.push(command)
          const userDb = command.type === 'put' ? command.record.userDb : command.userDb
          queueMicrotask(() => { sendBack({ type: 'store.written', userDb } satisfies StoreReport) })
        })
      }),
      companion: companionMachine.provide({
        actors: {
          dial: fromPromise<{ connected: boolean }, DialInput>(async ({ input }) => {
            dials.push({ at: clock.now(), multiaddrs: input.multiaddrs })
            throw new Error('connection refused')
          }),
          watchAddresses: fromCallback<{ type: 'addresses', multiaddrs: string[], hosts: string[] }, WatchAddressesInput>(() => {}),
          checkConnection: fromPromise<boolean, CheckInput>(async ({ input }) => {
            await checked
            return connected.has(input.peerId)
          })
        }
      })
    }
  })
  const actor = createActor(machine, { clock, input: { bus, transport, backoff, log: silent, random: () => 0, now: () => clock.now() } })
  const emitted: CompanionsEmitted[] = []
  actor.on('*', (e) => { emitted.push(e) })
  actor.start()
  const childState = (userDb: string): unknown => (actor.getSnapshot().children[companionActorId(userDb)]?.getSnapshot() as { value: unknown } | undefined)?.value
  return { bus, clock, actor, dials, writes, emitted, childState, connected }
}

/** Let the promise-based fakes settle (no timers involved) */
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

describe('companionsMachine', () => {
  it('redials an offline companion with growing, capped delays and stops once it is online', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 8_000, factor: 2, jitter: 0 })
    h.actor.send({ type: 'start' })
    await settle()
    // loaded and not connected: dialled at once, then after 2, 4, 8, 8 s (attempts 1, 2, 3, 4)
    expect(h.dials.map((d) => d.at)).toEqual([0])
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline'])
    for (const step of [2_000, 4_000, 8_000, 8_000]) {
      h.clock.increment(step - 1)
      await settle()
      const before = h.dials.length
      h.clock.increment(1)
      await settle()
      expect(h.dials.length).toBe(before + 1)
    }
    expect(h.dials.map((d) => d.at)).toEqual([0, 2_000, 6_000, 14_000, 22_000])

    // it connects by itself (it dialled us): online at once, no more dials
    h.connected.add(PEER)
    h.bus.emit('peer:connected', { peerId: PEER, multiaddrs: [] })
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline', 'companion:online'])
    h.clock.increment(60_000)
    await settle()
    expect(h.dials).toHaveLength(5)

    // it disconnects: offline at once; the backoff starts again from initialMs
    h.connected.delete(PEER)
    h.bus.emit('peer:disconnected', { peerId: PEER })
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline', 'companion:online', 'companion:offline'])
    h.clock.increment(999)
    await settle()
    expect(h.dials).toHaveLength(5)
    h.clock.increment(1)
    await settle()
    expect(h.dials.map((d) => d.at)).toEqual([0, 2_000, 6_000, 14_000, 22_000, 83_000])
    // going offline recorded when it was last seen
    expect(h.writes.some((w) => w.type === 'put' && w.record.lastSeen === 82_000)).toBe(true)
  })

  it('stops redialling a removed companion and deletes it', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 })
    h.actor.send({ type: 'start' })
    await settle()
    expect(h.dials).toHaveLength(1)
    h.actor.send({ type: 'remove', userDb: record.userDb })
    expect(h.actor.getSnapshot().children[companionActorId(record.userDb)]).toBeUndefined()
    expect(h.emitted.at(-1)).toEqual({ type: 'companion:removed', userDb: record.userDb, peerId: PEER })
    h.clock.increment(10_000)
    await settle()
    expect(h.dials).toHaveLength(1)
    expect(h.writes).toEqual([{ type: 'del', userDb: record.userDb }])
  })

  it('records a companion discovered while it was still starting', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 })
    const profile = { userDb: db(1), username: 'dave', pieces: PIECES, nodeId: EARLY_PEER }
    h.bus.emit('companion:discovered', { profile, multiaddrs: [] })
    h.actor.send({ type: 'start' })
    await settle()
    expect(Object.keys(h.actor.getSnapshot().context.records).sort()).toEqual([profile.userDb, record.userDb].sort())
    expect(h.writes.some((w) => w.type === 'put' && w.record.userDb === profile.userDb)).toBe(true)
  })

  it('records a newly discovered companion before reporting it online', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 })
    h.actor.send({ type: 'start' })
    await settle()
    h.connected.add(NEWCOMER)
    h.bus.emit('peer:connected', { peerId: NEWCOMER, multiaddrs: [] })
    const profile = { userDb: db(2), username: 'carol', pieces: PIECES, nodeId: NEWCOMER }
    h.bus.emit('companion:discovered', { profile, multiaddrs: [`/ip4/127.0.0.1/tcp/5/p2p/${NEWCOMER}`] })
    const child = h.actor.getSnapshot().children[companionActorId(profile.userDb)]
    expect((child?.getSnapshot() as { value: unknown }).value).toBe('saving')
    expect(h.emitted.some((e) => e.type === 'companion:online')).toBe(false)
    await settle() // the write is acknowledged
    expect(h.writes.some((w) => w.type === 'put' && w.record.userDb === profile.userDb)).toBe(true)
    expect(h.emitted.filter((e) => e.type === 'companion:online').map((e) => e.peerId)).toEqual([NEWCOMER])
    // discovered again with the same data: nothing to write
    const writes = h.writes.length
    h.bus.emit('companion:discovered', { profile, multiaddrs: [`/ip4/127.0.0.1/tcp/5/p2p/${NEWCOMER}`] })
    expect(h.writes).toHaveLength(writes)
  })
})

describe('companionsMachine: the connection is checked when each companion starts', () => {
  it('a companion whose peer disconnected while the db was loading is not online: it is redialled', async () => {
    let load = (): void => {}
    const loaded = new Promise<void>((resolve) => { load = resolve })
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 }, { connected: new Set([PEER]), loaded })
    h.actor.send({ type: 'start' })
    // connected when the load began, gone before it finished: no child exists yet to be told
    h.connected.delete(PEER)
    h.bus.emit('peer:disconnected', { peerId: PEER })
    load()
    await settle()
    expect(h.emitted.some((e) => e.type === 'companion:online')).toBe(false)
    expect(h.dials).toHaveLength(1)
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline'])
  })

  it('a companion whose peer connected while the db was loading is online at once, without a dial', async () => {
    let load = (): void => {}
    const loaded = new Promise<void>((resolve) => { load = resolve })
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 }, { loaded })
    h.actor.send({ type: 'start' })
    h.connected.add(PEER)
    h.bus.emit('peer:connected', { peerId: PEER, multiaddrs: [] })
    load()
    await settle()
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:online'])
    expect(h.dials).toEqual([])
    expect(h.childState(record.userDb)).toBe('online')
  })

  it('a peer event that arrives while the check runs wins over the check', async () => {
    let check = (): void => {}
    const checked = new Promise<void>((resolve) => { check = resolve })
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 }, { connected: new Set([PEER]), checked })
    h.actor.send({ type: 'start' })
    await settle()
    expect(h.childState(record.userDb)).toBe('checking')
    h.connected.delete(PEER)
    h.bus.emit('peer:disconnected', { peerId: PEER })
    check() // the check would have said "connected": too late
    await settle()
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline'])
    expect(h.dials).toHaveLength(1)
  })
})

describe('companionsMachine: what a peer says about itself', () => {
  it('keeps one record per peer: a new user db of the same peer replaces the old record', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 }, { connected: new Set([PEER]) })
    h.actor.send({ type: 'start' })
    await settle()
    const profile = { userDb: db(4), username: 'bob', pieces: PIECES, nodeId: PEER }
    h.bus.emit('companion:discovered', { profile, multiaddrs: [] })
    expect(Object.keys(h.actor.getSnapshot().context.records)).toEqual([db(4)])
    expect(h.actor.getSnapshot().children[companionActorId(record.userDb)]).toBeUndefined()
    expect(h.emitted).toContainEqual({ type: 'companion:removed', userDb: record.userDb, peerId: PEER })
    // the old record's addresses are kept for the new one (discovery did not know any)
    expect(h.writes).toEqual([
      { type: 'del', userDb: record.userDb },
      { type: 'put', record: expect.objectContaining({ userDb: db(4), multiaddrs: record.multiaddrs }) }
    ])
    await settle()
    expect(h.childState(db(4))).toBe('online')
  })

  it('drops a discovered companion whose profile does not pass the schema, and does not keep it for later', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 })
    h.actor.send({ type: 'start' })
    await settle()
    const bad = [
      { userDb: '/orbitdb/zdpuNotACid!', username: 'x', pieces: PIECES, nodeId: NEWCOMER },
      { userDb: db(5), username: '', pieces: PIECES, nodeId: NEWCOMER },
      { userDb: db(5), username: 'x', pieces: 'pieces', nodeId: NEWCOMER }
    ]
    for (const profile of bad) h.bus.emit('companion:discovered', { profile, multiaddrs: [] })
    expect(Object.keys(h.actor.getSnapshot().context.records)).toEqual([record.userDb])
    expect(h.actor.getSnapshot().context.early).toEqual([])
  })

  it('stores and redials only clean addresses of the companion itself, at most MAX_MULTIADDRS', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0 })
    h.actor.send({ type: 'start' })
    await settle()
    const profile = { userDb: db(6), username: 'mallory', pieces: PIECES, nodeId: NEWCOMER }
    const hostile = [
      'not a multiaddr',
      `/ip4/10.0.0.1/tcp/22/p2p/${PEER}`, // another peer's id
      `/dns4/example.com/tcp/443/wss/p2p/${NEWCOMER}`, // a name to resolve
      `/ip4/127.0.0.1/tcp/9/p2p-circuit/p2p/${NEWCOMER}`,
      ...Array.from({ length: 12 }, (_, i) => `/ip4/127.0.0.1/tcp/${5000 + i}`)
    ]
    h.bus.emit('companion:discovered', { profile, multiaddrs: hostile })
    const stored = h.actor.getSnapshot().context.records[db(6)]!.multiaddrs
    expect(stored).toHaveLength(MAX_MULTIADDRS)
    expect(stored[0]).toBe(`/ip4/127.0.0.1/tcp/5000/p2p/${NEWCOMER}`)
    expect(stored.every((m) => /^\/ip4\/127\.0\.0\.1\/tcp\/50\d\d\/p2p\//.test(m) && m.endsWith(`/p2p/${NEWCOMER}`))).toBe(true)
    await settle() // saved, checked (not connected): redialled with exactly those
    expect(h.dials.at(-1)?.multiaddrs).toEqual(stored)
  })
})

describe('companionMultiaddrs', () => {
  it('accepts ip4/ip6 + tcp (+ ws/wss) addresses of the companion, adding /p2p/<id> where it is missing', () => {
    expect(companionMultiaddr(PEER, '/ip4/127.0.0.1/tcp/4001')).toBe(`/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`)
    expect(companionMultiaddr(PEER, `/ip6/::1/tcp/4002/ws/p2p/${PEER}`)).toBe(`/ip6/::1/tcp/4002/ws/p2p/${PEER}`)
    for (const bad of [
      42, '', '/ip4/127.0.0.1/tcp/x', '/ip4/127.0.0.1', '/ip4/127.0.0.1/udp/4001/quic-v1', `/ip4/127.0.0.1/tcp/1/p2p/${NEWCOMER}`,
      '/dns4/localhost/tcp/1', '/unix/tmp%2Fsock', `/ip4/127.0.0.1/tcp/1/ws/ws/p2p/${PEER}`, `/ip4/127.0.0.1/tcp/1/${'x'.repeat(600)}`
    ]) {
      expect(companionMultiaddr(PEER, bad), String(bad)).toBeUndefined()
    }
    expect(companionMultiaddr('not-a-peer-id', '/ip4/127.0.0.1/tcp/4001')).toBeUndefined()
  })

  it('puts what we dialled first, then addresses on hosts we saw it on, dedupes and caps', () => {
    const announced = ['/ip4/192.168.1.9/tcp/1', '/ip4/127.0.0.1/tcp/2', `/ip4/127.0.0.1/tcp/2/p2p/${PEER}`, '/ip4/127.0.0.1/tcp/3']
    expect(companionMultiaddrs(PEER, announced, { dialled: ['/ip4/127.0.0.1/tcp/3'], hosts: ['127.0.0.1'] })).toEqual([
      `/ip4/127.0.0.1/tcp/3/p2p/${PEER}`, `/ip4/127.0.0.1/tcp/2/p2p/${PEER}`, `/ip4/192.168.1.9/tcp/1/p2p/${PEER}`
    ])
    const many = Array.from({ length: 20 }, (_, i) => `/ip4/127.0.0.1/tcp/${i + 1}`)
    expect(companionMultiaddrs(PEER, many)).toHaveLength(MAX_MULTIADDRS)
  })

  it('redials addresses on hosts we saw it at as ours, first; the rest only as far as the dial policy allows', () => {
    const stored = [`/ip4/10.1.2.3/tcp/22/p2p/${PEER}`, `/ip4/192.168.1.9/tcp/1/p2p/${PEER}`, `/ip4/127.0.0.1/tcp/2/p2p/${PEER}`]
    expect(dialPlan(stored, ['127.0.0.1', '192.168.1.9'])).toEqual([
      { address: stored[1], vouched: true },
      { address: stored[2], vouched: true },
      // only the peer says it is there (identify): it passes the dial policy (loopback only by default)
      { address: stored[0], vouched: false }
    ])
    expect(dialPlan(stored, []).every((p) => !p.vouched)).toBe(true)
    expect(mergeHosts(['10.0.0.1', '127.0.0.1'], ['127.0.0.1', 42, 'x'.repeat(65)])).toEqual(['10.0.0.1', '127.0.0.1'])
    expect(mergeHosts(Array.from({ length: 40 }, (_, i) => `10.0.0.${i}`))).toHaveLength(MAX_HOSTS)
  })
})
