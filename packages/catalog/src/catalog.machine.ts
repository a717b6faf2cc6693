/**
 * The catalog's root machine (one per peer). It spawns
 * - one `replicaMachine` per companion (`replica-<peer id>`, ./replica.machine.ts);
 * - one `queryMachine` per query (`query-<id>`, ./query.machine.ts), whose
 *   caller reads its emitted batches and its output;
 * - one `write` actor per write (`write-<n>`): every change of our pieces,
 *   practice counters, profile and scores; a stop waits for them.
 */
import { toError } from '@npp/bus'
import { assign, enqueueActions, setup } from 'xstate'
import { bus, closeStores, followOwn, openStores, write } from './catalog.actors.js'
import { querySources } from './query-sources.js'
import { queryMachine } from './query.machine.js'
import { replicaMachine } from './replica.machine.js'
import { writeActorId } from './writes.js'
import type { COMPANION_EVENTS, OwnStoreEvent } from './catalog.actors.js'
import type { ReplicaInput, ReplicaProgress, ReplicaRef, ReplicaReport } from './replica.machine.js'
import type { OwnStores, ReplicaStore } from './stores.js'
import type { PieceFilter, ReplicaOptions } from './types.js'
import type { WriteOp } from './writes.js'
import type { Bus, BusEvent, CompanionProfile } from '@npp/bus'
import type { Logger, Transport } from '@npp/transport'
import type { DoneActorEvent, ErrorActorEvent } from 'xstate'

export interface CompanionState {
  profile: CompanionProfile
  peerId: string
  /** False after `companion:offline`, true after `companion:discovered`/`companion:online` */
  online: boolean
  /** When it was last discovered or came online (ms since the epoch): who keeps an open replica first */
  seenAt: number
  replica: ReplicaRef | undefined
}

export interface CatalogMachineInput {
  bus: Bus
  transport: Transport
  defaultQueryTimeoutMs: number
  log: Logger
  replicas: ReplicaOptions
  /** Fields to start our profile with, each written only when missing */
  profile?: Record<string, unknown>
}

export interface CatalogMachineContext extends CatalogMachineInput {
  stores: OwnStores | undefined
  /** Our `username` profile field, for the local source of queries */
  username: string | undefined
  /** Known companions by their `user` db address */
  companions: Record<string, CompanionState>
  /** Ids of running queries */
  queries: string[]
  /** Writes under way, by the id of their actor */
  writes: Record<string, WriteOp>
  error: Error | undefined
  stopRequested: boolean
  replicaSeq: number
}

export type CatalogMachineEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | BusEvent<typeof COMPANION_EVENTS[number]>
  /** Run one query; its events come from the child `query-<queryId>` */
  | { type: 'query', queryId: string, filter: PieceFilter, limit: number | undefined, timeoutMs: number, startedAt: number }
  /** Run one write; its result is the output of the child `write-<writeId>` */
  | { type: 'write', writeId: string, op: WriteOp }
  | DoneActorEvent
  | ErrorActorEvent
  | ReplicaReport
  | ReplicaProgress
  | OwnStoreEvent

export type CatalogEmitted = BusEvent<'catalog:changed' | 'catalog:replicated' | 'catalog:syncing'>

const isActive = (replica: ReplicaRef | undefined): replica is ReplicaRef => replica?.getSnapshot().status === 'active'
const endedActor = (event: CatalogMachineEvent): string | undefined => 'actorId' in event ? event.actorId : undefined

/** The stores of the replicas that are open (a replica closing or retrying closes its own) */
function openReplicaStores (context: CatalogMachineContext): ReplicaStore[] {
  return Object.values(context.companions).flatMap((c) => {
    const snapshot = c.replica?.getSnapshot()
    const store = snapshot?.context.store
    return store == null || snapshot?.status !== 'active' || snapshot.matches('closing') || snapshot.matches('retrying') ? [] : [store]
  })
}

/**
 * The catalog's lifecycle: `stopped -> starting -> running -> stopping ->
 * stopped` (or `failed`). Starting opens our stores and completes our
 * profile. While running it follows companions from the bus (spawning a
 * replica per companion), spawns a child per query and one per write.
 * Stopping first waits for the writes under way (at most
 * `writeDrainTimeout`), then closes the stores.
 */
export const catalogMachine = setup({
  types: {
    context: {} as CatalogMachineContext,
    input: {} as CatalogMachineInput,
    events: {} as CatalogMachineEvent,
    emitted: {} as CatalogEmitted
  },
  actors: { bus, openStores, closeStores, followOwn, write, replica: replicaMachine, query: queryMachine },
  actions: {
    resetRun: assign({ error: undefined, stopRequested: false }),
    requestStop: assign({ stopRequested: true }),
    keepStores: assign((_, stores: OwnStores) => ({ stores })),
    forgetStores: assign({ stores: undefined }),
    /** Keep the error of the actor that failed (opening or closing our stores) */
    recordError: assign(({ event }) => 'error' in event ? { error: toError(event.error) } : {}),
    setUsername: assign((_, username: string | undefined) => ({ username })),
    /**
     * Record a companion from `companion:discovered`/`online`/`offline` and tell
     * its replica whether it is online; a changed pieces address closes the old replica
     */
    recordCompanion: enqueueActions(({ context, event, enqueue }) => {
      let profile: CompanionProfile
      let peerId: string
      let online: boolean
      if (event.type === 'companion:discovered') {
        profile = event.profile
        peerId = event.profile.nodeId
        online = true
      } else if (event.type === 'companion:online' || event.type === 'companion:offline') {
        profile = event.profile
        peerId = event.peerId
        online = event.type === 'companion:online'
      } else {
        return
      }
      const existing = context.companions[profile.userDb]
      let replica = existing?.replica
      if (isActive(replica) && existing!.profile.pieces !== profile.pieces) {
        enqueue.sendTo(replica, { type: 'close' })
        replica = undefined
      }
      // a failed replica opens again at once when its companion comes online
      if (isActive(replica)) enqueue.sendTo(replica, { type: online ? 'online' : 'offline' })
      const seenAt = online ? Date.now() : existing?.seenAt ?? 0
      enqueue.assign({ companions: { ...context.companions, [profile.userDb]: { profile, peerId, online, seenAt, replica } } })
    }),
    forgetCompanion: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'companion:removed') return
      const existing = context.companions[event.userDb]
      if (existing == null) return
      if (isActive(existing.replica)) enqueue.sendTo(existing.replica, { type: 'close' })
      const companions = { ...context.companions }
      delete companions[event.userDb]
      enqueue.assign({ companions })
    }),
    /**
     * At most `replicas.maxOpen` replicas are open: to make room for online companions without one,
     * the replicas of the offline companions seen longest ago are closed (they open again when their
     * companion comes back online)
     */
    evictReplicas: enqueueActions(({ context, enqueue }) => {
      const own = context.stores?.pieces.address
      const all = Object.entries(context.companions).filter(([, c]) => c.profile.pieces !== own)
      const open = all.filter(([, c]) => isActive(c.replica))
      const waiting = all.filter(([, c]) => c.online && !isActive(c.replica)).length
      let excess = open.length + waiting - context.replicas.maxOpen
      if (excess <= 0) return
      const companions = { ...context.companions }
      for (const [userDb, c] of open.filter(([, c]) => !c.online).sort(([, a], [, b]) => a.seenAt - b.seenAt)) {
        if (excess-- <= 0) break
        enqueue.sendTo(c.replica!, { type: 'close' })
        companions[userDb] = { ...c, replica: undefined }
      }
      enqueue.assign({ companions })
    }),
    /**
     * Open a replica for every known companion that has none running (not for our own pieces db),
     * online ones and the most recently seen first, at most `replicas.maxOpen` in all
     */
    ensureReplicas: assign(({ context, spawn, self }) => {
      const own = context.stores?.pieces.address
      let replicaSeq = context.replicaSeq
      const companions = { ...context.companions }
      const children = self.getSnapshot().children as Record<string, unknown>
      let open = Object.values(companions).filter((c) => isActive(c.replica)).length
      const byPriority = Object.entries(companions).sort(([, a], [, b]) => Number(b.online) - Number(a.online) || b.seenAt - a.seenAt)
      for (const [userDb, c] of byPriority) {
        // a replica that ended (closed, or its actor failed) is replaced
        if (isActive(c.replica) || c.profile.pieces === own) continue
        if (open >= context.replicas.maxOpen) break
        open++
        let id = `replica-${c.peerId}`
        if (children[id] != null) id = `${id}-${++replicaSeq}`
        const input: ReplicaInput = { profile: c.profile, transport: context.transport, log: context.log, online: c.online, options: context.replicas }
        companions[userDb] = { ...c, replica: spawn('replica', { id, input }) }
      }
      return { companions, replicaSeq }
    }),
    spawnQuery: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'query') return
      const handles = querySources({ transport: context.transport, stores: context.stores, username: context.username, companions: Object.values(context.companions) })
      enqueue.spawnChild('query', {
        id: `query-${event.queryId}`,
        input: { queryId: event.queryId, filter: event.filter, limit: event.limit, timeoutMs: event.timeoutMs, handles, startedAt: event.startedAt }
      })
      enqueue.assign({ queries: [...context.queries, event.queryId] })
    }),
    /** A query ended (its caller has read its output): forget it and stop it, with its sources' answers */
    endQuery: enqueueActions(({ context, event, enqueue }) => {
      const id = endedActor(event)
      if (id == null) return
      enqueue.assign({ queries: context.queries.filter((q) => `query-${q}` !== id) })
      enqueue.stopChild(id)
    }),
    spawnWrite: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'write' || context.stores == null) return
      const id = writeActorId(event.writeId)
      enqueue.spawnChild('write', { id, input: { stores: context.stores, transport: context.transport, op: event.op, log: context.log } })
      enqueue.assign({ writes: { ...context.writes, [id]: event.op } })
    }),
    /** A write that changed our username: the local source of the next query carries the new name at once */
    noteUsername: assign(({ context, event }) => {
      const op = context.writes[endedActor(event) ?? '']
      if (op?.kind === 'profile.put' && op.field === 'username') return { username: typeof op.value === 'string' ? op.value : undefined }
      if (op?.kind === 'profile.del' && op.field === 'username') return { username: undefined }
      return {}
    }),
    /** A write ended (its caller reads the result from the actor): forget it, and stop it with its input (a score's bytes) */
    endWrite: enqueueActions(({ context, event, enqueue }) => {
      const id = endedActor(event)
      if (id == null) return
      const writes = { ...context.writes }
      delete writes[id]
      enqueue.assign({ writes })
      enqueue.stopChild(id)
    }),
    /** An actor that ended stays among the children until stopped */
    stopEndedChild: enqueueActions(({ event, enqueue }) => {
      const id = endedActor(event)
      if (id != null) enqueue.stopChild(id)
    }),
    abortQueries: enqueueActions(({ context, enqueue }) => {
      for (const id of context.queries) enqueue.sendTo(`query-${id}`, { type: 'abort' })
    }),
    stopReplicas: enqueueActions(({ context, enqueue }) => {
      const companions: Record<string, CompanionState> = {}
      for (const [userDb, c] of Object.entries(context.companions)) {
        if (c.replica != null) enqueue.stopChild(c.replica)
        companions[userDb] = { ...c, replica: undefined }
      }
      enqueue.assign({ companions })
    }),
    emitChanges: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'own.changed') return
      for (const { hash, change } of event.changes) enqueue.emit({ type: 'catalog:changed', hash, change })
    }),
    /** Tell the bus what a replica holds now */
    emitReplicated: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'replica.updated') return
      const { userDb, peerId, username, pieces, invalid } = event
      enqueue.emit({ type: 'catalog:replicated', userDb, peerId, username, pieces, invalid })
    }),
    /** Tell the bus how far a replica's sync is */
    emitSyncing: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'replica.progress') return
      const { userDb, peerId, username, done, known } = event
      enqueue.emit({ type: 'catalog:syncing', userDb, peerId, username, done, known })
    })
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequested,
    noPendingWrites: ({ context }) => Object.keys(context.writes).length === 0,
    isQuery: ({ event }) => endedActor(event)?.startsWith('query-') === true,
    isWrite: ({ context, event }) => context.writes[endedActor(event) ?? ''] != null,
    /** A replica that is no companion's any more (closed, or replaced) */
    isClosedReplica: ({ context, event }) => {
      const id = endedActor(event)
      return id?.startsWith('replica-') === true && !Object.values(context.companions).some((c) => c.replica?.id === id)
    }
  },
  delays: {
    /** Longest wait for writes under way when stopping; later the stores close under them */
    writeDrainTimeout: 10_000
  }
}).createMachine({
  id: 'catalog',
  context: ({ input }) => ({
    ...input,
    stores: undefined,
    username: undefined,
    companions: {},
    queries: [],
    writes: {},
    error: undefined,
    stopRequested: false,
    replicaSeq: 0
  }),
  initial: 'stopped',
  // Companions are followed from the catalog's creation, whatever the start order: one
  // that comes online while we start (or are stopped) gets its replica once we run
  invoke: { src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
  on: {
    'companion:discovered': { actions: 'recordCompanion' },
    'companion:online': { actions: 'recordCompanion' },
    'companion:offline': { actions: 'recordCompanion' },
    'companion:removed': { actions: 'forgetCompanion' },
    // Queries, writes and replicas report in every state, so queries aborted by a stop still end
    'replica.updated': { actions: 'emitReplicated' },
    'replica.progress': { actions: 'emitSyncing' },
    'xstate.done.actor.*': [
      { guard: 'isQuery', actions: 'endQuery' },
      { guard: 'isWrite', actions: ['noteUsername', 'endWrite'] },
      { guard: 'isClosedReplica', actions: 'stopEndedChild' }
    ],
    'xstate.error.actor.*': [
      { guard: 'isQuery', actions: 'endQuery' },
      { guard: 'isWrite', actions: 'endWrite' },
      { guard: 'isClosedReplica', actions: 'stopEndedChild' }
    ]
  },
  states: {
    stopped: {
      on: { start: 'starting' }
    },
    starting: {
      entry: 'resetRun',
      on: { stop: { actions: 'requestStop' } },
      invoke: {
        src: 'openStores',
        input: ({ context }) => ({ transport: context.transport, log: context.log, profile: context.profile }),
        onDone: [
          { guard: 'stopRequested', target: 'stopping', actions: { type: 'keepStores', params: ({ event }) => event.output } },
          { target: 'running', actions: { type: 'keepStores', params: ({ event }) => event.output } }
        ],
        onError: { target: 'failed', actions: 'recordError' }
      }
    },
    running: {
      entry: 'ensureReplicas',
      invoke: { src: 'followOwn', input: ({ context }) => ({ stores: context.stores! }) },
      on: {
        stop: 'stopping',
        'companion:discovered': { actions: ['recordCompanion', 'evictReplicas', 'ensureReplicas'] },
        'companion:online': { actions: ['recordCompanion', 'evictReplicas', 'ensureReplicas'] },
        // an online companion waiting for a place may take the one this companion leaves
        'companion:offline': { actions: ['recordCompanion', 'evictReplicas', 'ensureReplicas'] },
        query: { actions: 'spawnQuery' },
        write: { actions: 'spawnWrite' },
        'own.changed': { actions: 'emitChanges' },
        'profile.username': { actions: { type: 'setUsername', params: ({ event }) => event.username } }
      }
    },
    stopping: {
      entry: 'abortQueries',
      initial: 'draining',
      states: {
        /** Writes accepted while running finish first; no new ones are accepted */
        draining: {
          always: { guard: 'noPendingWrites', target: 'closing' },
          after: { writeDrainTimeout: 'closing' }
        },
        closing: {
          invoke: {
            src: 'closeStores',
            input: ({ context }) => ({ stores: context.stores, transport: context.transport, replicas: openReplicaStores(context) }),
            onDone: { target: '#catalog.stopped', actions: ['stopReplicas', 'forgetStores'] },
            onError: { target: '#catalog.failed', actions: ['stopReplicas', 'forgetStores', 'recordError'] }
          }
        }
      }
    },
    failed: {
      on: { start: 'starting' }
    }
  }
})
