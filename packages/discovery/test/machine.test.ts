import { createBus } from '@npp/bus'
import { describe, expect, it } from 'vitest'
import { SimulatedClock, createActor, fromPromise, sendParent, setup } from 'xstate'
import { announcementMachine, announcementActorId, discoveryMachine, peerActorId, peerMachine } from '../src/index.js'
import type { AnnounceInput, AnnouncementContext, AnnouncementInput, DiscoveryEmitted, DiscoveryOptions, ManifestInput, OpenOwnInput, OpenOwnOutput, Verdict } from '../src/index.js'
import type { KeyValueDatabase, Transport } from '@npp/transport'

// Unit tests of the machines with their side effects swapped out by .provide():
// no network, and a simulated clock for the delays.

const OWN = '/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAWt'
const dbAddress = (n: number): string => `/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAW${'ABCDEFGHJK'[n]}`
const transport = {} as Transport
const fakeDb = (address: string): KeyValueDatabase => ({ address }) as KeyValueDatabase

/** Stands in for an announcement child: reports whatever the test tells it to */
const scriptedAnnouncement = setup({
  types: {
    input: {} as AnnouncementInput,
    context: {} as AnnouncementInput,
    events: {} as { type: 'finish', ok: boolean }
  }
}).createMachine({
  context: ({ input }) => input,
  on: {
    finish: [
      {
        guard: ({ event }) => event.ok,
        actions: sendParent(({ context }) => ({
          type: 'validation.accepted',
          userDb: context.userDb,
          from: context.from,
          db: fakeDb(context.userDb),
          profile: { userDb: context.userDb, username: 'u', pieces: OWN, nodeId: context.from },
          multiaddrs: []
        }))
      },
      {
        actions: sendParent(({ context }) => ({ type: 'validation.rejected', userDb: context.userDb, from: context.from, reason: 'no-pieces', detail: 'test' }))
      }
    ]
  }
})

// The scripted stand-in speaks the same protocol to its parent as the real machine
const scripted = scriptedAnnouncement as unknown as typeof announcementMachine

function harness (options: Partial<DiscoveryOptions> = {}, announcement: typeof announcementMachine = scripted, connected: string[] = []) {
  const bus = createBus()
  const clock = new SimulatedClock()
  const machine = discoveryMachine.provide({
    actors: {
      openOwnUserDb: fromPromise<OpenOwnOutput, OpenOwnInput>(async () => ({ db: fakeDb(OWN), connected })),
      peer: peerMachine.provide({ actors: { announce: fromPromise<void, AnnounceInput>(async () => {}) } }),
      announcement
    }
  })
  const actor = createActor(machine, {
    clock,
    input: {
      bus,
      transport,
      options: {
        maxConcurrent: 4, maxQueued: 64, replicationTimeoutMs: 1_000, rateLimit: { announcements: 10, windowMs: 10_000 }, profile: {}, ...options
      }
    }
  })
  const emitted: DiscoveryEmitted[] = []
  actor.on('*', (e) => { emitted.push(e) })
  actor.start()
  const reasons = (): string[] => emitted.flatMap((e) => e.type === 'discovery:rejected' ? [e.reason] : [])
  const announce = (from: string, userDb: string): void => {
    bus.emit('message:received', { from, payload: { type: 'npp/announce', v: 1, userDb } })
  }
  return { bus, clock, actor, emitted, reasons, announce }
}

async function running (h: ReturnType<typeof harness>): Promise<void> {
  h.actor.send({ type: 'start' })
  await new Promise<void>((resolve) => {
    const sub = h.actor.subscribe((s) => { if (s.matches('running')) { sub.unsubscribe(); resolve() } })
  })
}

describe('discoveryMachine', () => {
  it('spawns one child per connected peer and stops it on disconnect', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.bus.emit('peer:connected', { peerId: 'p2', multiaddrs: [] })
    const children = (): string[] => Object.keys(h.actor.getSnapshot().children).sort()
    expect(children()).toEqual(['bus', peerActorId('p1'), peerActorId('p2')])
    h.bus.emit('peer:disconnected', { peerId: 'p1' })
    expect(children()).toEqual(['bus', peerActorId('p2')])
    // a message from a peer that is not connected is refused; one of another protocol is ignored
    h.announce('p1', dbAddress(0))
    h.bus.emit('message:received', { from: 'p1', payload: { type: 'npp/query', q: 1 } })
    expect(h.reasons()).toEqual(['not-connected'])
  })

  it('validates at most maxConcurrent at once, queues maxQueued, drops the rest, and dedupes', async () => {
    const h = harness({ maxConcurrent: 1, maxQueued: 1 })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.announce('p1', dbAddress(0)) // the same db again while it is validated: nothing new
    h.announce('p1', dbAddress(1))
    h.announce('p1', dbAddress(2))
    const context = h.actor.getSnapshot().context
    expect(Object.keys(context.active)).toEqual([dbAddress(0)])
    expect(context.queue.map((q) => q.userDb)).toEqual([dbAddress(1)])
    expect(h.reasons()).toEqual(['queue-full'])
    expect(h.emitted.filter((e) => e.type === 'db:announced').map((e) => e.userDb)).toEqual([dbAddress(0), dbAddress(1)])

    // finishing the first starts the queued one
    h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]!.send({ type: 'finish', ok: true })
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(1)])
    expect(h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]).toBeUndefined()
    expect(h.emitted.filter((e) => e.type === 'companion:discovered')).toHaveLength(1)

    // the known db, announced again by someone else, is refused without any work
    h.bus.emit('peer:connected', { peerId: 'p2', multiaddrs: [] })
    h.announce('p2', dbAddress(0))
    expect(h.reasons()).toEqual(['queue-full', 'node-id-mismatch'])
    // announced again by its owner: re-validated with the db that is open already
    h.actor.getSnapshot().children[announcementActorId(dbAddress(1))]!.send({ type: 'finish', ok: false })
    h.announce('p1', dbAddress(0))
    const child = h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]
    expect((child?.getSnapshot() as { context: AnnouncementContext }).context.db?.address).toBe(dbAddress(0))
  })

  it('validates the same db announced by two peers one after the other, so nobody can shadow the owner', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'mallory', multiaddrs: [] })
    h.bus.emit('peer:connected', { peerId: 'owner', multiaddrs: [] })
    h.announce('mallory', dbAddress(0))
    h.announce('owner', dbAddress(0))
    expect(h.actor.getSnapshot().context.active).toEqual({ [dbAddress(0)]: 'mallory' })
    expect(h.actor.getSnapshot().context.queue).toEqual([{ from: 'owner', userDb: dbAddress(0) }])
    // mallory's turn ends in a rejection; then the owner's announcement is validated
    h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]!.send({ type: 'finish', ok: false })
    expect(h.actor.getSnapshot().context.active).toEqual({ [dbAddress(0)]: 'owner' })
    h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]!.send({ type: 'finish', ok: true })
    expect(h.emitted.filter((e) => e.type === 'companion:discovered').map((e) => e.profile.nodeId)).toEqual(['owner'])
    expect(h.actor.getSnapshot().context.queue).toEqual([])
  })

  it('keeps an announcement that arrives before it runs and handles it once running', async () => {
    const h = harness({}, scripted, ['p1'])
    h.announce('p1', dbAddress(0)) // p1 connected and announced while we were still stopped
    h.bus.emit('message:received', { from: 'p1', payload: { type: 'npp/query' } }) // not ours: not kept
    expect(h.actor.getSnapshot().context.early).toHaveLength(1)
    await running(h)
    expect(h.actor.getSnapshot().context.early).toEqual([])
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(0)])
    expect(h.actor.getSnapshot().children[peerActorId('p1')]).toBeDefined()
  })

  it('rate-limits per peer in a window that starts with the first message and resets after windowMs', async () => {
    const h = harness({ rateLimit: { announcements: 2, windowMs: 5_000 }, maxConcurrent: 100 })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.bus.emit('peer:connected', { peerId: 'p2', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.bus.emit('message:received', { from: 'p1', payload: { type: 'npp/announce', v: 1 } }) // bad shape counts too
    h.announce('p1', dbAddress(1))
    h.announce('p2', dbAddress(2)) // another peer has its own budget
    expect(h.reasons()).toEqual(['bad-shape', 'rate-limited'])
    h.clock.increment(4_999)
    h.announce('p1', dbAddress(3))
    expect(h.reasons()).toEqual(['bad-shape', 'rate-limited', 'rate-limited'])
    h.clock.increment(1)
    h.announce('p1', dbAddress(4))
    expect(h.reasons()).toHaveLength(3)
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(0), dbAddress(2), dbAddress(4)])
  })

  it('rejects an announced db as not-found when its manifest does not arrive within the bounded wait', async () => {
    const pending = announcementMachine.provide({
      actors: { readManifests: fromPromise<Verdict, ManifestInput>(async ({ signal }) => await new Promise<never>((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }) })) }
    })
    const h = harness({ replicationTimeoutMs: 2_000 }, pending)
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.clock.increment(1_999)
    expect(h.reasons()).toEqual([])
    h.clock.increment(1)
    expect(h.reasons()).toEqual(['not-found'])
    expect(h.actor.getSnapshot().context.active).toEqual({})
  })
})
