/**
 * The catalog's root machine alone: stores, follower, writes and replicas'
 * actors are swapped for fakes with `.provide()` (no node, no db), and every
 * step waits for a state or an event, never for a duration.
 */
import { recordingLogger } from '@npp/testkit'
import { describe, expect, it } from 'vitest'
import { createActor, fromCallback, fromPromise, toPromise, waitFor } from 'xstate'
import { catalogMachine } from '../src/catalog.machine.js'
import { replicaMachine } from '../src/replica.machine.js'
import type { CloseStoresInput, WriteInput } from '../src/catalog.actors.js'
import type { CatalogEmitted, CatalogMachineInput } from '../src/catalog.machine.js'
import type { QueryDone } from '../src/query.machine.js'
import type { OpenReplicaInput } from '../src/replica.actors.js'
import type { OwnStores, ReplicaStore } from '../src/stores.js'
import type { Piece } from '../src/types.js'
import type { WriteOutput } from '../src/writes.js'
import type { Bus, CompanionProfile } from '@npp/bus'
import type { Transport } from '@npp/transport'
import type { AnyActorRef } from 'xstate'

const OWN_PIECES = '/orbitdb/own-pieces'
const piece: Piece = { hash: 'h1', instrument: 'violin', title: 'Chaconne', addedAt: 0 }
const stores = { pieces: { address: OWN_PIECES }, user: { address: '/orbitdb/own-user' }, pieceIndex: { find: () => [piece] } } as unknown as OwnStores
const transport = { isStarted: () => true, peerId: 'peer-me', isConnected: () => false } as unknown as Transport
const log = recordingLogger()
const input: CatalogMachineInput = {
  bus: {} as Bus,
  transport,
  defaultQueryTimeoutMs: 1000,
  log,
  replicas: { openTimeoutMs: 1000, retryInitialMs: 600_000, retryMaxMs: 600_000, maxEntries: 100_000, maxBytes: 64 * 2 ** 20, maxOpen: 64 }
}
const profileOf = (name: string, pieces = `/orbitdb/${name}-pieces`): CompanionProfile => ({ userDb: `/orbitdb/${name}-user`, username: name, pieces, nodeId: `peer-${name}` })

interface Deferred<T> { promise: Promise<T>, resolve: (value: T) => void, reject: (err: unknown) => void }
function deferred<T> (): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

interface Fakes {
  /** Resolves (or rejects) the open of our stores; resolves with the fake stores by default */
  open?: Promise<OwnStores>
  /** Answers each write; by default at once with a result of its kind */
  write?: (input: WriteInput) => Promise<WriteOutput>
}

/** A catalog machine with fake actors; records what its actors were asked, and what it emitted */
function harness (fakes: Fakes = {}, init: Partial<CatalogMachineInput> = {}) {
  const seen = { opened: 0, closed: [] as Array<{ stores: OwnStores | undefined }>, writes: [] as WriteInput[], emitted: [] as CatalogEmitted[] }
  const machine = catalogMachine.provide({
    actors: {
      bus: fromCallback(() => {}),
      openStores: fromPromise(async () => { seen.opened++; return await (fakes.open ?? Promise.resolve(stores)) }),
      closeStores: fromPromise<void, CloseStoresInput>(async ({ input }) => { seen.closed.push({ stores: input.stores }) }),
      followOwn: fromCallback(() => {}),
      write: fromPromise<WriteOutput, WriteInput>(async ({ input }) => {
        seen.writes.push(input)
        return await (fakes.write?.(input) ?? Promise.resolve({ kind: 'profile.put', result: undefined } as WriteOutput))
      }),
      // a replica that never opens: what the catalog tells it is what is tested
      replica: replicaMachine.provide({ actors: { openReplica: fromPromise<ReplicaStore, OpenReplicaInput>(async () => await new Promise<never>(() => {})) } })
    }
  })
  const actor = createActor(machine, { input: { ...input, ...init } })
  actor.on('*', (e) => { seen.emitted.push(e) })
  return { actor, seen }
}

type Harness = ReturnType<typeof harness>

async function running (h: Harness): Promise<void> {
  h.actor.start()
  h.actor.send({ type: 'start' })
  await waitFor(h.actor, (s) => s.matches('running'))
}

const children = (h: Harness): string[] => Object.keys(h.actor.getSnapshot().children).filter((id) => !id.startsWith('x:')).sort()
const replicaOf = (h: Harness, name: string): AnyActorRef | undefined => h.actor.getSnapshot().context.companions[profileOf(name).userDb]?.replica

describe('catalogMachine', () => {
  it('starts with the stores it opened, and stops through draining and closing them', async () => {
    const h = harness()
    await running(h)
    expect(h.actor.getSnapshot().context.stores).toBe(stores)
    h.actor.send({ type: 'stop' })
    await waitFor(h.actor, (s) => s.matches('stopped'))
    expect(h.seen.closed).toEqual([{ stores }])
    expect(h.actor.getSnapshot().context.stores).toBeUndefined()
  })

  it('a stop while starting stops as soon as the stores are open; a failed open fails, and it can start again', async () => {
    const open = deferred<OwnStores>()
    const h = harness({ open: open.promise })
    h.actor.start()
    h.actor.send({ type: 'start' })
    h.actor.send({ type: 'stop' })
    expect(h.actor.getSnapshot().value).toBe('starting')
    open.resolve(stores)
    await waitFor(h.actor, (s) => s.matches('stopped'))
    expect(h.seen.closed).toEqual([{ stores }])

    const broken = harness({ open: Promise.reject(new Error('transport is not online')) })
    broken.actor.start()
    broken.actor.send({ type: 'start' })
    const failed = await waitFor(broken.actor, (s) => s.matches('failed'))
    expect(failed.context.error?.message).toBe('transport is not online')
    broken.actor.send({ type: 'start' })
    expect(broken.actor.getSnapshot().value).toBe('starting')
    broken.actor.stop()
  })

  it('spawns one replica per companion, tells it online/offline, replaces it for a new pieces address and stops it when removed', async () => {
    const h = harness()
    await running(h)
    h.actor.send({ type: 'companion:discovered', profile: profileOf('bob'), multiaddrs: [] })
    expect(children(h)).toContain('replica-peer-bob')
    const first = replicaOf(h, 'bob')!
    h.actor.send({ type: 'companion:offline', userDb: profileOf('bob').userDb, peerId: 'peer-bob', profile: profileOf('bob') })
    expect(first.getSnapshot().context.online).toBe(false)
    expect(h.actor.getSnapshot().context.companions[profileOf('bob').userDb]?.online).toBe(false)
    h.actor.send({ type: 'companion:online', userDb: profileOf('bob').userDb, peerId: 'peer-bob', profile: profileOf('bob') })
    expect(first.getSnapshot().context.online).toBe(true)

    // a new pieces address: the old replica closes (and leaves the children), a new one opens
    const moved = profileOf('bob', '/orbitdb/bob-pieces-2')
    h.actor.send({ type: 'companion:online', userDb: moved.userDb, peerId: 'peer-bob', profile: moved })
    expect(first.getSnapshot().status).toBe('done')
    const second = replicaOf(h, 'bob')!
    expect(second).not.toBe(first)
    expect(second.getSnapshot().context.profile.pieces).toBe('/orbitdb/bob-pieces-2')
    expect(children(h).filter((id) => id.startsWith('replica-'))).toEqual([second.id])

    h.actor.send({ type: 'companion:removed', userDb: moved.userDb, peerId: 'peer-bob' })
    expect(second.getSnapshot().status).toBe('done')
    expect(children(h).filter((id) => id.startsWith('replica-'))).toEqual([])
    expect(h.actor.getSnapshot().context.companions).toEqual({})
    h.actor.stop()
  })

  it('keeps at most replicas.maxOpen open: online companions first; an offline one makes room, and none is opened beyond the cap', async () => {
    const h = harness({}, { replicas: { ...input.replicas, maxOpen: 2 } })
    await running(h)
    const open = (): string[] => children(h).filter((id) => id.startsWith('replica-')).sort()
    h.actor.send({ type: 'companion:discovered', profile: profileOf('bob'), multiaddrs: [] })
    h.actor.send({ type: 'companion:discovered', profile: profileOf('carol'), multiaddrs: [] })
    expect(open()).toEqual(['replica-peer-bob', 'replica-peer-carol'])
    const carols = replicaOf(h, 'carol')!
    h.actor.send({ type: 'companion:offline', userDb: profileOf('carol').userDb, peerId: 'peer-carol', profile: profileOf('carol') })
    // dave comes: carol (offline) gives her place up
    h.actor.send({ type: 'companion:discovered', profile: profileOf('dave'), multiaddrs: [] })
    expect(carols.getSnapshot().status).toBe('done')
    expect(open()).toEqual(['replica-peer-bob', 'replica-peer-dave'])
    // eve comes while both are online: she waits without a replica
    h.actor.send({ type: 'companion:discovered', profile: profileOf('eve'), multiaddrs: [] })
    expect(open()).toEqual(['replica-peer-bob', 'replica-peer-dave'])
    expect(h.actor.getSnapshot().context.companions[profileOf('eve').userDb]?.replica).toBeUndefined()
    // bob goes offline: eve takes his place
    h.actor.send({ type: 'companion:offline', userDb: profileOf('bob').userDb, peerId: 'peer-bob', profile: profileOf('bob') })
    expect(open()).toEqual(['replica-peer-dave', 'replica-peer-eve'])
    h.actor.stop()
  })

  it('opens no replica for a companion that shares our pieces db (another device of ours)', async () => {
    const h = harness()
    await running(h)
    h.actor.send({ type: 'companion:discovered', profile: profileOf('laptop', OWN_PIECES), multiaddrs: [] })
    expect(replicaOf(h, 'laptop')).toBeUndefined()
    expect(children(h).filter((id) => id.startsWith('replica-'))).toEqual([])
    h.actor.stop()
  })

  it('runs a query as a child whose output is the done event, then forgets and stops it', async () => {
    const h = harness()
    await running(h)
    h.actor.send({ type: 'companion:discovered', profile: profileOf('bob'), multiaddrs: [] })
    h.actor.send({ type: 'profile.username', username: 'clara' })
    h.actor.send({ type: 'query', queryId: 'q1', filter: {}, limit: undefined, timeoutMs: 1000, startedAt: performance.now() })
    const query = h.actor.getSnapshot().children['query-q1']!
    expect(h.actor.getSnapshot().context.queries).toEqual(['q1'])
    const done = await toPromise(query) as QueryDone
    expect(done).toMatchObject({ type: 'done', queryId: 'q1', summary: { answered: 1, timedOut: 0, failed: 1, total: 1 } })
    expect(done.hits[0]?.sources).toEqual([{ kind: 'local', username: 'clara', peerId: 'peer-me' }])
    expect(done.sources.find((s) => s.source.username === 'bob')).toMatchObject({ status: 'failed', reason: 'offline' })
    expect(h.actor.getSnapshot().context.queries).toEqual([])
    expect(children(h)).not.toContain('query-q1')
    // results are the caller's: nothing of the query is emitted to the bus
    expect(h.seen.emitted).toEqual([])
    h.actor.stop()
  })

  it('runs each write as a child, notes a new username, and a stop drains the writes under way first', async () => {
    const slow = deferred<WriteOutput>()
    const h = harness({ write: async (w) => w.op.kind === 'piece.put' ? await slow.promise : { kind: 'profile.put', result: undefined } })
    await running(h)
    h.actor.send({ type: 'write', writeId: '1', op: { kind: 'profile.put', field: 'username', value: 'clara' } })
    await waitFor(h.actor, (s) => Object.keys(s.context.writes).length === 0)
    expect(h.actor.getSnapshot().context.username).toBe('clara')
    expect(children(h)).not.toContain('write-1')

    h.actor.send({ type: 'write', writeId: '2', op: { kind: 'piece.put', piece } })
    h.actor.send({ type: 'stop' })
    expect(h.actor.getSnapshot().matches({ stopping: 'draining' })).toBe(true)
    // no write is accepted while stopping
    h.actor.send({ type: 'write', writeId: '3', op: { kind: 'profile.del', field: 'bio' } })
    expect(h.seen.writes.map((w) => w.op.kind)).toEqual(['profile.put', 'piece.put'])
    slow.resolve({ kind: 'piece.put', result: piece })
    await waitFor(h.actor, (s) => s.matches('stopped'))
    expect(h.seen.closed).toHaveLength(1)
  })

  it('emits catalog:changed for our changes and catalog:replicated for a replica\'s report', async () => {
    const h = harness()
    await running(h)
    h.actor.send({ type: 'own.changed', changes: [{ hash: 'h1', change: 'added' }, { hash: 'h2', change: 'practised' }] })
    h.actor.send({ type: 'replica.updated', userDb: '/orbitdb/bob-user', peerId: 'peer-bob', username: 'bob', pieces: 3, invalid: 1 })
    expect(h.seen.emitted).toEqual([
      { type: 'catalog:changed', hash: 'h1', change: 'added' },
      { type: 'catalog:changed', hash: 'h2', change: 'practised' },
      { type: 'catalog:replicated', userDb: '/orbitdb/bob-user', peerId: 'peer-bob', username: 'bob', pieces: 3, invalid: 1 }
    ])
    h.actor.stop()
  })

  it('names every guard, action and actor it uses, so each can be provided', () => {
    const { guards, actions, actors } = catalogMachine.implementations
    expect(Object.keys(guards).sort()).toEqual(['isClosedReplica', 'isQuery', 'isWrite', 'noPendingWrites', 'stopRequested'])
    expect(Object.keys(actors).sort()).toEqual(['bus', 'closeStores', 'followOwn', 'openStores', 'query', 'replica', 'write'])
    expect(Object.keys(actions)).toEqual(expect.arrayContaining(['recordCompanion', 'evictReplicas', 'ensureReplicas', 'spawnQuery', 'endQuery', 'spawnWrite', 'endWrite', 'emitChanges', 'emitReplicated']))
  })
})
