import { createBus } from '@npp/bus'
import { describe, expect, it } from 'vitest'
import { SimulatedClock, createActor, fromCallback, fromPromise } from 'xstate'
import { backoffDelay, companionActorId, companionMachine, companionsMachine } from '../src/index.js'
import type { BackoffOptions, CompanionRecord, CompanionsEmitted, DialInput, LoadInput, LoadOutput, StoreCommand, StoreReport, WatchAddressesInput } from '../src/index.js'
import type { KeyValueDatabase, Transport } from '@npp/transport'

// Unit tests of the machines with their side effects swapped out by .provide():
// no network, a simulated clock for the backoff delays.

describe('backoffDelay', () => {
  const options: BackoffOptions = { initialMs: 1_000, maxMs: 30_000, factor: 2, jitter: 0.2 }

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

const PEER = '12D3KooWPeer'
const record: CompanionRecord = {
  userDb: '/orbitdb/zdpuCompanion',
  profile: { userDb: '/orbitdb/zdpuCompanion', username: 'bob', pieces: '/orbitdb/zdpuPieces', nodeId: PEER },
  multiaddrs: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWPeer'],
  firstSeen: 1,
  lastSeen: 1
}

function harness (backoff: BackoffOptions) {
  const bus = createBus()
  const clock = new SimulatedClock()
  const dials: number[] = []
  const writes: StoreCommand[] = []
  const machine = companionsMachine.provide({
    actors: {
      loadCompanions: fromPromise<LoadOutput, LoadInput>(async () => ({
        db: {} as KeyValueDatabase<CompanionRecord>, records: { [record.userDb]: record }, connected: [], invalid: 0
      })),
      store: fromCallback<StoreCommand, { db: KeyValueDatabase<CompanionRecord> }>(({ receive, sendBack }) => {
        receive((command) => {
          writes.push(command)
          const userDb = command.type === 'put' ? command.record.userDb : command.userDb
          queueMicrotask(() => { sendBack({ type: 'store.written', userDb } satisfies StoreReport) })
        })
      }),
      companion: companionMachine.provide({
        actors: {
          dial: fromPromise<{ connected: boolean }, DialInput>(async () => {
            dials.push(clock.now())
            throw new Error('connection refused')
          }),
          watchAddresses: fromCallback<{ type: 'addresses', multiaddrs: string[] }, WatchAddressesInput>(() => {})
        }
      })
    }
  })
  const actor = createActor(machine, { clock, input: { bus, transport: {} as Transport, backoff, random: () => 0, now: () => clock.now() } })
  const emitted: CompanionsEmitted[] = []
  actor.on('*', (e) => { emitted.push(e) })
  actor.start()
  return { bus, clock, actor, dials, writes, emitted }
}

/** Let the promise-based fakes settle (no timers involved) */
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

describe('companionsMachine', () => {
  it('redials an offline companion with growing, capped delays and stops once it is online', async () => {
    const h = harness({ initialMs: 1_000, maxMs: 8_000, factor: 2, jitter: 0 })
    h.actor.send({ type: 'start' })
    await settle()
    // loaded and not connected: dialled at once, then after 2, 4, 8, 8 s (attempts 1, 2, 3, 4)
    expect(h.dials).toEqual([0])
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline'])
    for (const step of [2_000, 4_000, 8_000, 8_000]) {
      h.clock.increment(step - 1)
      await settle()
      const before = h.dials.length
      h.clock.increment(1)
      await settle()
      expect(h.dials.length).toBe(before + 1)
    }
    expect(h.dials).toEqual([0, 2_000, 6_000, 14_000, 22_000])

    // it connects by itself (it dialled us): online at once, no more dials
    h.bus.emit('peer:connected', { peerId: PEER, multiaddrs: [] })
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline', 'companion:online'])
    h.clock.increment(60_000)
    await settle()
    expect(h.dials).toHaveLength(5)

    // it disconnects: offline at once; the backoff starts again from initialMs
    h.bus.emit('peer:disconnected', { peerId: PEER })
    expect(h.emitted.map((e) => e.type)).toEqual(['companion:offline', 'companion:online', 'companion:offline'])
    h.clock.increment(999)
    await settle()
    expect(h.dials).toHaveLength(5)
    h.clock.increment(1)
    await settle()
    expect(h.dials).toEqual([0, 2_000, 6_000, 14_000, 22_000, 83_000])
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
    const profile = { userDb: '/orbitdb/zdpuEarly', username: 'dave', pieces: '/orbitdb/zdpuP3', nodeId: 'early' }
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
    h.bus.emit('peer:connected', { peerId: 'newcomer', multiaddrs: [] })
    const profile = { userDb: '/orbitdb/zdpuNew', username: 'carol', pieces: '/orbitdb/zdpuP2', nodeId: 'newcomer' }
    h.bus.emit('companion:discovered', { profile, multiaddrs: ['/ip4/127.0.0.1/tcp/5/p2p/newcomer'] })
    const child = h.actor.getSnapshot().children[companionActorId(profile.userDb)]
    expect((child?.getSnapshot() as { value: unknown }).value).toBe('saving')
    expect(h.emitted.some((e) => e.type === 'companion:online')).toBe(false)
    await settle() // the write is acknowledged
    expect(h.writes.some((w) => w.type === 'put' && w.record.userDb === profile.userDb)).toBe(true)
    expect(h.emitted.filter((e) => e.type === 'companion:online').map((e) => e.peerId)).toEqual(['newcomer'])
    // discovered again with the same data: nothing to write
    const writes = h.writes.length
    h.bus.emit('companion:discovered', { profile, multiaddrs: ['/ip4/127.0.0.1/tcp/5/p2p/newcomer'] })
    expect(h.writes).toHaveLength(writes)
  })
})
