import { createBus } from '@npp/bus'
import { describe, expect, it } from 'vitest'
import { SimulatedClock, createActor, fromCallback, fromPromise, sendParent, setup, toPromise } from 'xstate'
import { validateProfile } from '../src/announcement.actors.js'
import { announcementActorId, announcementMachine } from '../src/announcement.machine.js'
import { discoveryMachine } from '../src/discovery.machine.js'
import { peerActorId, peerMachine } from '../src/peer.machine.js'
import { silentLogger } from './helpers.js'
import type { DbInput, Verdict } from '../src/announcement.actors.js'
import type { AnnouncementContext, AnnouncementInput } from '../src/announcement.machine.js'
import type { CloseCommand, OpenOwnInput, OpenOwnOutput, PeersListed, RemovedCommand, RemovedWritten } from '../src/discovery.actors.js'
import type { DiscoveryEmitted } from '../src/events.js'
import type { DiscoveryOptions } from '../src/options.js'
import type { AnnounceInput } from '../src/peer.actors.js'
import type { PeerContext } from '../src/peer.machine.js'
import type { Tombstone } from '../src/schema.js'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

// Unit tests of the machines with their side effects swapped out by .provide():
// no network, and a simulated clock for the delays.

const OWN = '/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAWt'
const REMOVED_DB = '/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAWr'
const dbAddress = (n: number): string => `/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWAW${'ABCDEFGHJK'[n]}`
const transport = {} as Transport
const fakeDb = (address: string): KeyValueDatabase => ({ address }) as KeyValueDatabase

/** Stands in for an announcement child: reports whatever the test tells it to */
const scriptedAnnouncement = setup({
  types: {
    input: {} as AnnouncementInput,
    context: {} as AnnouncementInput,
    events: {} as { type: 'finish', ok: boolean, transient?: boolean }
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
          db: context.db ?? fakeDb(context.userDb),
          profile: { userDb: context.userDb, username: 'u', pieces: OWN, nodeId: context.from },
          multiaddrs: []
        }))
      },
      {
        actions: sendParent(({ context, event }) => event.transient === true
          ? { type: 'validation.rejected', userDb: context.userDb, from: context.from, reason: 'replication-timeout', detail: 'test', transient: true }
          : { type: 'validation.rejected', userDb: context.userDb, from: context.from, reason: 'no-pieces', detail: 'test', transient: false })
      }
    ]
  }
})

// The scripted stand-in speaks the same protocol to its parent as the real machine
const scripted = scriptedAnnouncement as unknown as typeof announcementMachine

interface HarnessOptions {
  options?: Partial<DiscoveryOptions>
  announcement?: typeof announcementMachine
  /** Peers connected right now (read when discovery starts running); the test may change it */
  connected?: Set<string>
  /** Tombstones in our db of removed companions */
  removed?: Record<string, Tombstone>
  /** Replaces the announce actor of every peer child */
  announce?: ReturnType<typeof fromPromise<void, AnnounceInput>>
  /** Resolves the start (opening our own dbs); default at once */
  opened?: Promise<void>
}

function harness ({ options = {}, announcement = scripted, connected = new Set(), removed = {}, announce, opened }: HarnessOptions = {}) {
  const bus = createBus()
  const clock = new SimulatedClock()
  const closed: string[] = []
  const writes: Array<Omit<RemovedCommand, 'db'>> = []
  const machine = discoveryMachine.provide({
    actors: {
      openOwnDatabases: fromPromise<OpenOwnOutput, OpenOwnInput>(async () => {
        await opened
        return { userDb: OWN, removedDb: fakeDb(REMOVED_DB) as KeyValueDatabase<Tombstone>, removed: { ...removed }, invites: {} }
      }),
      connectedPeers: fromCallback<PeersListed, { transport: Transport, log: Logger }>(({ sendBack }) => {
        sendBack({ type: 'peers.listed', peers: [...connected] })
      }),
      removedStore: fromCallback<RemovedCommand, { log: Logger }>(({ receive, sendBack }) => {
        receive(({ db: _db, ...command }) => {
          writes.push(command)
          queueMicrotask(() => { sendBack({ type: 'removed.written', userDb: command.userDb, error: undefined } satisfies RemovedWritten) })
        })
      }),
      closer: fromCallback<CloseCommand, { log: Logger }>(({ receive }) => {
        receive((command) => { closed.push(command.db.address) })
      }),
      peer: peerMachine.provide({ actors: { announce: announce ?? fromPromise<void, AnnounceInput>(async () => {}) } }),
      announcement
    }
  })
  const actor = createActor(machine, {
    clock,
    input: {
      bus,
      transport,
      catalog: { userDbAddress: OWN },
      companions: { has: () => false, count: () => 0 },
      log: silentLogger,
      random: () => 0,
      options: {
        accept: 'all',
        maxPending: 64,
        maxCompanions: 256,
        maxConcurrent: 4,
        maxQueued: 64,
        maxPerSender: 64,
        replicationTimeoutMs: 1_000,
        rateLimit: { announcements: 10, windowMs: 10_000 },
        announceRetry: { attempts: 5, initialMs: 500, maxMs: 8_000 },
        validationRetry: { attempts: 3, initialMs: 1_000, maxMs: 4_000 },
        ...options
      }
    }
  })
  const emitted: DiscoveryEmitted[] = []
  actor.on('*', (e) => { emitted.push(e) })
  actor.start()
  const reasons = (): string[] => emitted.flatMap((e) => e.type === 'discovery:rejected' ? [e.reason] : [])
  const announceFrom = (from: string, userDb: string): void => {
    bus.emit('message:received', { from, payload: { type: 'npp/announce', v: 1, userDb } })
  }
  const finish = (userDb: string, ok: boolean, transient = false): void => {
    actor.getSnapshot().children[announcementActorId(userDb)]!.send({ type: 'finish', ok, transient })
  }
  const retrying = (): Array<[string, number]> => emitted.flatMap((e) => e.type === 'discovery:retrying' ? [[e.reason, e.attempt] as [string, number]] : [])
  const discovered = (): string[] => emitted.flatMap((e) => e.type === 'companion:discovered' ? [e.profile.userDb] : [])
  return { bus, clock, actor, emitted, reasons, retrying, announce: announceFrom, finish, discovered, closed, writes }
}

async function running (h: ReturnType<typeof harness>): Promise<void> {
  h.actor.send({ type: 'start' })
  await new Promise<void>((resolve) => {
    const sub = h.actor.subscribe((s) => { if (s.matches('running')) { sub.unsubscribe(); resolve() } })
  })
}

/** Let the promise-based fakes settle (no timers involved) */
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

describe('discoveryMachine', () => {
  it('spawns one child per connected peer and stops it on disconnect', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.bus.emit('peer:connected', { peerId: 'p2', multiaddrs: [] })
    const children = (): string[] => Object.keys(h.actor.getSnapshot().children).filter((id) => id.startsWith('peer-')).sort()
    expect(children()).toEqual([peerActorId('p1'), peerActorId('p2')])
    h.bus.emit('peer:disconnected', { peerId: 'p1' })
    expect(children()).toEqual([peerActorId('p2')])
    // a message from a peer that is not connected is refused; one of another protocol is ignored
    h.announce('p1', dbAddress(0))
    h.bus.emit('message:received', { from: 'p1', payload: { type: 'npp/query', q: 1 } })
    expect(h.reasons()).toEqual(['not-connected'])
  })

  it('validates at most maxConcurrent at once, queues maxQueued, retries the rest later, and dedupes', async () => {
    const h = harness({ options: { maxConcurrent: 1, maxQueued: 1 } })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.announce('p1', dbAddress(0)) // the same db again while it is validated: nothing new, said as 'duplicate'
    h.announce('p1', dbAddress(1))
    h.announce('p1', dbAddress(2))
    const context = h.actor.getSnapshot().context
    expect(Object.keys(context.active)).toEqual([dbAddress(0)])
    expect(context.queue.map((q) => q.userDb)).toEqual([dbAddress(1)])
    expect(h.reasons()).toEqual(['duplicate'])
    // the third waits out a retry delay instead of being dropped
    expect(h.retrying()).toEqual([['queue-full', 1]])
    expect(Object.values(h.actor.getSnapshot().context.retrying)).toMatchObject([{ from: 'p1', userDb: dbAddress(2), attempt: 1, reason: 'queue-full' }])
    expect(h.emitted.filter((e) => e.type === 'db:announced').map((e) => e.userDb)).toEqual([dbAddress(0), dbAddress(1)])

    // finishing the first starts the queued one
    h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]!.send({ type: 'finish', ok: true })
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(1)])
    expect(h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]).toBeUndefined()
    expect(h.emitted.filter((e) => e.type === 'companion:discovered')).toHaveLength(1)

    // the known db, announced again by someone else, is refused without any work
    h.bus.emit('peer:connected', { peerId: 'p2', multiaddrs: [] })
    h.announce('p2', dbAddress(0))
    expect(h.reasons()).toEqual(['duplicate', 'node-id-mismatch'])
    // p1's retry is due: the queue has room now
    h.clock.increment(1_000)
    expect(h.actor.getSnapshot().context.queue.map((q) => q.userDb)).toEqual([dbAddress(2)])
    expect(h.actor.getSnapshot().context.retrying).toEqual({})
    // announced again by its owner: re-validated with the db that is open already
    h.actor.getSnapshot().children[announcementActorId(dbAddress(1))]!.send({ type: 'finish', ok: false })
    h.actor.getSnapshot().children[announcementActorId(dbAddress(2))]!.send({ type: 'finish', ok: false })
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
    expect(h.actor.getSnapshot().context.active).toEqual({ [dbAddress(0)]: { from: 'mallory', userDb: dbAddress(0), attempt: 0 } })
    expect(h.actor.getSnapshot().context.queue).toEqual([{ from: 'owner', userDb: dbAddress(0), attempt: 0 }])
    // mallory's turn ends in a rejection; then the owner's announcement is validated
    h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]!.send({ type: 'finish', ok: false })
    expect(h.actor.getSnapshot().context.active).toEqual({ [dbAddress(0)]: { from: 'owner', userDb: dbAddress(0), attempt: 0 } })
    h.actor.getSnapshot().children[announcementActorId(dbAddress(0))]!.send({ type: 'finish', ok: true })
    expect(h.emitted.filter((e) => e.type === 'companion:discovered').map((e) => e.profile.nodeId)).toEqual(['owner'])
    expect(h.actor.getSnapshot().context.queue).toEqual([])
  })

  it('keeps an announcement that arrives before it runs and handles it once running', async () => {
    const h = harness({ connected: new Set(['p1']) })
    h.announce('p1', dbAddress(0)) // p1 connected and announced while we were still stopped
    h.bus.emit('message:received', { from: 'p1', payload: { type: 'npp/query' } }) // not ours: not kept
    expect(h.actor.getSnapshot().context.early).toHaveLength(1)
    await running(h)
    expect(h.actor.getSnapshot().context.early).toEqual([])
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(0)])
    expect(h.actor.getSnapshot().children[peerActorId('p1')]).toBeDefined()
  })

  it('rate-limits per peer in a window that starts with the first message and resets after windowMs', async () => {
    const h = harness({ options: { rateLimit: { announcements: 2, windowMs: 5_000 }, maxConcurrent: 100 } })
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

  const never = fromPromise<Verdict, DbInput>(async ({ signal }) => await new Promise<never>((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }) }))

  it('rejects an announced db as not-found when its manifest does not arrive and its announcer does not serve it', async () => {
    const pending = announcementMachine.provide({ actors: { readManifests: never, probeServed: fromPromise(async () => false) } })
    const h = harness({ options: { replicationTimeoutMs: 2_000 }, announcement: pending })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    await settle()
    h.clock.increment(1_999)
    expect(h.reasons()).toEqual([])
    h.clock.increment(1)
    expect(h.reasons()).toEqual(['not-found'])
    expect(h.retrying()).toEqual([])
    expect(h.actor.getSnapshot().context.active).toEqual({})
  })

  it('retries with backoff a db its announcer serves but whose manifest came too late, then gives up after the attempts', async () => {
    const pending = announcementMachine.provide({ actors: { readManifests: never, probeServed: fromPromise(async () => true) } })
    const h = harness({ options: { replicationTimeoutMs: 2_000 }, announcement: pending })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    await settle()
    h.clock.increment(2_000)
    expect(h.retrying()).toEqual([['replication-timeout', 1]])
    expect(h.actor.getSnapshot().context.active).toEqual({})
    h.clock.increment(1_000) // first retry after initialMs
    await settle()
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(0)])
    h.clock.increment(2_000)
    expect(h.retrying()).toEqual([['replication-timeout', 1], ['replication-timeout', 2]])
    h.clock.increment(2_000) // doubled
    await settle()
    h.clock.increment(2_000)
    // three attempts in all: now final, and db:announced was said once
    expect(h.reasons()).toEqual(['replication-timeout'])
    expect(h.emitted.filter((e) => e.type === 'discovery:rejected')[0]).toMatchObject({ detail: expect.stringMatching(/after 3 attempts/) })
    expect(h.emitted.filter((e) => e.type === 'db:announced')).toHaveLength(1)
  })

  it('retries a db that OrbitDB could not open after its manifests passed: the failure is ours, not the db\'s', async () => {
    const opening = announcementMachine.provide({
      actors: {
        probeServed: fromPromise(async () => true),
        readManifests: fromPromise<Verdict, DbInput>(async () => ({ ok: true })),
        // e.g. an earlier attempt's open of the same db, abandoned at its timeout, still holds its storage
        openDatabase: fromPromise<KeyValueDatabase, DbInput>(async () => { throw new Error('Database failed to open: LEVEL_LOCKED') })
      }
    })
    const h = harness({ announcement: opening })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    await settle()
    expect(h.retrying()).toEqual([['open-failed', 1]])
    expect(h.reasons()).toEqual([])
    expect(h.emitted.find((e) => e.type === 'discovery:retrying')).toMatchObject({ detail: expect.stringContaining('LEVEL_LOCKED') })
  })

  it('retries a replication that timed out while its sender is connected, and drops the retry when it disconnects', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.finish(dbAddress(0), false, true)
    expect(h.retrying()).toEqual([['replication-timeout', 1]])
    h.clock.increment(1_000)
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(0)])
    h.finish(dbAddress(0), true)
    expect(h.discovered()).toEqual([dbAddress(0)])

    h.bus.emit('peer:connected', { peerId: 'p2', multiaddrs: [] })
    h.announce('p2', dbAddress(1))
    h.finish(dbAddress(1), false, true)
    expect(Object.values(h.actor.getSnapshot().context.retrying)).toMatchObject([{ from: 'p2', userDb: dbAddress(1) }])
    // announced again while it waits: said as a duplicate, nothing new starts
    h.announce('p2', dbAddress(1))
    expect(h.reasons()).toEqual(['duplicate'])
    // the sender leaves: the retry ends, with its last reason as the outcome
    h.bus.emit('peer:disconnected', { peerId: 'p2' })
    expect(h.actor.getSnapshot().context.retrying).toEqual({})
    expect(h.reasons()).toEqual(['duplicate', 'replication-timeout'])
    h.clock.increment(60_000)
    expect(h.actor.getSnapshot().context.active).toEqual({})
  })
})

describe('discoveryMachine: peers connected while starting', () => {
  it('spawns a child for the peers connected when it starts running, not for those that left while it was starting', async () => {
    let open = (): void => {}
    const opened = new Promise<void>((resolve) => { open = resolve })
    const connected = new Set(['stays', 'leaves'])
    const h = harness({ connected, opened })
    h.actor.send({ type: 'start' })
    // while our own dbs open: one peer leaves, another arrives (no child can exist yet)
    connected.delete('leaves')
    h.bus.emit('peer:disconnected', { peerId: 'leaves' })
    connected.add('arrives')
    h.bus.emit('peer:connected', { peerId: 'arrives', multiaddrs: [] })
    expect(Object.keys(h.actor.getSnapshot().children).filter((id) => id.startsWith('peer-'))).toEqual([])
    open()
    await running(h)
    await settle()
    const peers = Object.keys(h.actor.getSnapshot().children).filter((id) => id.startsWith('peer-')).sort()
    expect(peers).toEqual([peerActorId('arrives'), peerActorId('stays')])
    // 'leaves' is not a stale child: when it connects again it gets a child (and our announcement)
    h.bus.emit('peer:connected', { peerId: 'leaves', multiaddrs: [] })
    expect(h.actor.getSnapshot().children[peerActorId('leaves')]).toBeDefined()
  })
})

describe('peerMachine: announcing ourselves', () => {
  /** An announce actor that fails `failures` times, then succeeds; records when it was called */
  const flaky = (clock: { now(): number }, failures: number, calls: number[]) => fromPromise<void, AnnounceInput>(async () => {
    calls.push(clock.now())
    if (calls.length <= failures) throw new Error('PeerNotSubscribedError: the peer did not subscribe in time')
  })
  const peerState = (h: ReturnType<typeof harness>, peerId: string): { value: unknown, context: PeerContext } | undefined =>
    h.actor.getSnapshot().children[peerActorId(peerId)]?.getSnapshot() as { value: unknown, context: PeerContext } | undefined

  it('retries a failed announcement with doubling delays until it is sent', async () => {
    const calls: number[] = []
    const clock = { now: (): number => h.clock.now() }
    const h = harness({ announce: flaky(clock, 2, calls) })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    await settle()
    expect(calls).toEqual([0])
    expect(peerState(h, 'p1')?.value).toMatchObject({ announcement: 'waiting' })
    h.clock.increment(499)
    await settle()
    expect(calls).toEqual([0])
    h.clock.increment(1)
    await settle()
    h.clock.increment(1_000)
    await settle()
    expect(calls).toEqual([0, 500, 1_500])
    expect(peerState(h, 'p1')?.value).toMatchObject({ announcement: 'sent' })
    expect(peerState(h, 'p1')?.context.failures).toBe(2)
  })

  it('gives up after the configured attempts', async () => {
    const calls: number[] = []
    const h = harness({ announce: flaky({ now: () => h.clock.now() }, 100, calls), options: { announceRetry: { attempts: 3, initialMs: 100, maxMs: 150 } } })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    for (let i = 0; i < 20; i++) {
      await settle()
      h.clock.increment(50)
    }
    expect(calls).toEqual([0, 100, 250])
    expect(peerState(h, 'p1')?.value).toMatchObject({ announcement: 'failed' })
    expect(peerState(h, 'p1')?.context.announceError).toMatch(/did not subscribe/)
  })

  it('stops retrying when the peer disconnects', async () => {
    const calls: number[] = []
    const h = harness({ announce: flaky({ now: () => h.clock.now() }, 100, calls) })
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    await settle()
    expect(calls).toEqual([0])
    h.bus.emit('peer:disconnected', { peerId: 'p1' })
    h.clock.increment(60_000)
    await settle()
    expect(calls).toEqual([0])
    expect(h.actor.getSnapshot().children[peerActorId('p1')]).toBeUndefined()
  })

})

describe('discoveryMachine: validated dbs, removal and readmission', () => {
  it('keeps each validated db until the companions package reports it removed (it keeps one per peer)', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.finish(dbAddress(0), true)
    h.announce('p1', dbAddress(1))
    h.finish(dbAddress(1), true)
    h.announce('p1', dbAddress(2))
    h.finish(dbAddress(2), false) // a rejected one is forgotten
    expect(Object.keys(h.actor.getSnapshot().context.known).sort()).toEqual([dbAddress(0), dbAddress(1)])
    expect(h.closed).toEqual([])
    expect(h.discovered()).toEqual([dbAddress(0), dbAddress(1)])
    // companions replaced the older record: its db is closed, and it is no tombstone
    h.bus.emit('companion:removed', { userDb: dbAddress(0), peerId: 'p1' })
    expect(h.closed).toEqual([dbAddress(0)])
    expect(Object.keys(h.actor.getSnapshot().context.known)).toEqual([dbAddress(1)])
    expect(h.writes).toEqual([])
  })

  it('closes a removed companion\'s db, writes a tombstone, rejects its announcements, and readmits it on request', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.finish(dbAddress(0), true)

    h.bus.emit('companion:removed', { userDb: dbAddress(0), peerId: 'p1' })
    expect(h.closed).toEqual([dbAddress(0)])
    expect(h.actor.getSnapshot().context.known).toEqual({})
    expect(h.writes).toEqual([{ type: 'put', userDb: dbAddress(0), nodeId: 'p1' }])
    expect(h.actor.getSnapshot().context.pendingWrites).toBe(1)
    await settle()
    expect(h.actor.getSnapshot().context.pendingWrites).toBe(0)

    // it reconnects and announces again: rejected, nothing is opened
    h.bus.emit('peer:disconnected', { peerId: 'p1' })
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    expect(h.reasons()).toEqual(['removed'])
    expect(h.actor.getSnapshot().context.active).toEqual({})

    // readmitted by its peer id while connected: validated again at once
    h.actor.send({ type: 'readmit', target: 'p1' })
    expect(h.writes.at(-1)).toEqual({ type: 'del', userDb: dbAddress(0) })
    expect(h.actor.getSnapshot().context.removed).toEqual({})
    expect(Object.keys(h.actor.getSnapshot().context.active)).toEqual([dbAddress(0)])
    h.finish(dbAddress(0), true)
    expect(h.discovered()).toEqual([dbAddress(0), dbAddress(0)])
  })

  it('writes no tombstone for a db its peer replaced, and rejects a removed db whose validation was under way', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('peer:connected', { peerId: 'p1', multiaddrs: [] })
    h.announce('p1', dbAddress(0))
    h.finish(dbAddress(0), true)
    h.announce('p1', dbAddress(1))
    h.finish(dbAddress(1), true)
    // the companions package reports the replaced companion as removed
    h.bus.emit('companion:removed', { userDb: dbAddress(0), peerId: 'p1' })
    expect(h.writes).toEqual([])
    expect(Object.keys(h.actor.getSnapshot().context.known)).toEqual([dbAddress(1)])

    // removed while its re-validation runs: the result is rejected and the db closed
    h.announce('p1', dbAddress(1))
    h.bus.emit('companion:removed', { userDb: dbAddress(1), peerId: 'p1' })
    h.finish(dbAddress(1), true)
    expect(h.reasons()).toEqual(['removed'])
    expect(h.discovered()).toEqual([dbAddress(0), dbAddress(1)])
    expect(h.actor.getSnapshot().context.known).toEqual({})
  })

  it('loads tombstones at start, and keeps a removal that arrives while starting', async () => {
    const h = harness({ removed: { [dbAddress(3)]: { nodeId: 'p3', removedAt: 1 } } })
    h.bus.emit('companion:removed', { userDb: dbAddress(4), peerId: 'p4' })
    await running(h)
    expect(Object.keys(h.actor.getSnapshot().context.removed).sort()).toEqual([dbAddress(3), dbAddress(4)])
    expect(h.writes).toEqual([{ type: 'put', userDb: dbAddress(4), nodeId: 'p4' }])
    h.bus.emit('peer:connected', { peerId: 'p3', multiaddrs: [] })
    h.announce('p3', dbAddress(3))
    expect(h.reasons()).toEqual(['removed'])
    // readmitted while not connected: only the tombstone goes
    h.actor.send({ type: 'readmit', target: dbAddress(4) })
    expect(Object.keys(h.actor.getSnapshot().context.removed)).toEqual([dbAddress(3)])
    expect(h.actor.getSnapshot().context.active).toEqual({})
  })

  it('waits for tombstone writes before it closes the dbs when stopping', async () => {
    const h = harness()
    await running(h)
    h.bus.emit('companion:removed', { userDb: dbAddress(0), peerId: 'p1' })
    h.actor.send({ type: 'stop' })
    expect(h.actor.getSnapshot().value).toEqual({ stopping: 'flushing' })
    await settle()
    expect(h.actor.getSnapshot().value).toBe('stopped')
    expect(Object.keys(h.actor.getSnapshot().children).sort()).toEqual(['closer', 'removed-store', 'invite-writer', 'bus'].sort())
  })
})

describe('validateProfile', () => {
  /** A db whose entries are exactly these (as a remote peer could make OrbitDB hand them over) */
  const dbWith = (entries: Array<{ key: string, value: unknown }>): KeyValueDatabase =>
    ({ address: dbAddress(0), all: async () => entries }) as unknown as KeyValueDatabase
  const validate = async (entries: Array<{ key: string, value: unknown }>) => await toPromise(createActor(validateProfile, {
    input: { transport, db: dbWith(entries), userDb: dbAddress(0), from: 'p1', log: silentLogger }
  }).start())

  it('reads only own fields: a __proto__ or constructor key cannot supply pieces, username or nodeId', async () => {
    const profile = { username: 'mallory', pieces: OWN, nodeId: 'p1' }
    expect(await validate([{ key: '__proto__', value: profile }, { key: 'constructor', value: profile }]))
      .toMatchObject({ ok: false, reason: 'no-pieces' })
    expect(await validate([{ key: '__proto__', value: profile }, { key: 'pieces', value: OWN }]))
      .toMatchObject({ ok: false, reason: 'invalid-profile' })
    expect(Object.getPrototypeOf({})).toBe(Object.prototype) // nothing leaked into Object.prototype
    expect(({} as Record<string, unknown>).pieces).toBeUndefined()
  })
})
