/**
 * The catalog's machines. `catalogMachine` is the root (one per peer); it spawns
 * - one `replicaMachine` per companion (`replica-<peer id>`): opens the
 *   companion's pieces db, keeps it replicated and its index up to date, and
 *   opens it again after a failure (with backoff while the companion is
 *   online, and at once when it comes online);
 * - one `queryMachine` per query (`query-<id>`), which spawns one
 *   `sourceMachine` per source (`source-local`, `source-<peer id>`) that
 *   answers from an in-memory index or ends as timedOut/failed;
 * - one `write` actor per write (`write-<n>`): every change of our pieces,
 *   practice counters, profile and scores; a stop waits for them.
 */
import { fromBus, toError } from '@npp/bus'
import { assign, emit, enqueueActions, fromCallback, fromPromise, sendTo, setup, stopChild, waitFor } from 'xstate'
import { SourceUnavailableError } from './errors.js'
import { closeOwnStores, openOwnStores, openReplicaStore } from './stores.js'
import { performWrite, writeActorId } from './writes.js'
import type { PieceChange, PieceFilter } from './piece-index.js'
import type { OwnStores, ReplicaStore } from './stores.js'
import type { Piece } from './types.js'
import type { WriteOp, WriteOutput } from './writes.js'
import type { Bus, BusEvent, CatalogHit, CompanionProfile, QuerySource, QuerySummary, SourceOutcome } from '@npp/bus'
import type { Entry, Logger, Operation, Transport } from '@npp/transport'
import type { ActorRefFrom, AnyActorRef, DoneActorEvent, ErrorActorEvent } from 'xstate'

function reasonOf (err: unknown): string {
  if (err instanceof SourceUnavailableError) return err.reason
  const name = (err as { name?: string } | undefined)?.name
  if (name === 'AbortError') return 'aborted'
  return name ?? 'error'
}

// ---------------------------------------------------------------------------
// One source of one query

/** A source of a query: our catalog or one companion's */
export interface SourceHandle {
  source: QuerySource
  /** Resolve with the matching pieces once the source can answer; reject with a {@link SourceUnavailableError} */
  answer(filter: PieceFilter, signal: AbortSignal): Promise<Piece[]>
}

export interface SourceInput {
  handle: SourceHandle
  filter: PieceFilter
  timeoutMs: number
  /** `performance.now()` when the query started */
  startedAt: number
}

type SourceAnswer = { ok: true, pieces: Piece[], ms: number } | { ok: false, reason: string, ms: number }

interface SourceContext extends SourceInput {
  outcome: SourceOutcome | undefined
  pieces: Piece[]
}

/** The output of a source: how it ended, and its pieces if it answered */
export interface SourceOutput {
  outcome: SourceOutcome
  pieces: Piece[]
}

/**
 * One source of one query: answers from an index, or ends as `timedOut`
 * after `timeoutMs`, or as `failed` (with a reason). Its output goes to the
 * query as the `xstate.done.actor.source-...` event.
 */
export const sourceMachine = setup({
  types: {
    context: {} as SourceContext,
    input: {} as SourceInput,
    output: {} as SourceOutput
  },
  actors: {
    answer: fromPromise<SourceAnswer, { handle: SourceHandle, filter: PieceFilter, startedAt: number }>(async ({ input, signal }) => {
      try {
        const pieces = await input.handle.answer(input.filter, signal)
        return { ok: true, pieces, ms: performance.now() - input.startedAt }
      } catch (err) {
        return { ok: false, reason: reasonOf(err), ms: performance.now() - input.startedAt }
      }
    })
  },
  delays: {
    timeout: ({ context }) => context.timeoutMs
  }
}).createMachine({
  id: 'source',
  context: ({ input }) => ({ ...input, outcome: undefined, pieces: [] }),
  initial: 'answering',
  states: {
    answering: {
      invoke: {
        src: 'answer',
        input: ({ context }) => ({ handle: context.handle, filter: context.filter, startedAt: context.startedAt }),
        onDone: [
          {
            guard: ({ event }) => event.output.ok,
            target: 'answered',
            actions: assign(({ context, event }) => {
              const pieces = event.output.ok ? event.output.pieces : []
              return { pieces, outcome: { source: context.handle.source, status: 'answered' as const, hits: pieces.length, ms: event.output.ms } }
            })
          },
          {
            target: 'failed',
            actions: assign({
              outcome: ({ context, event }) => ({
                source: context.handle.source,
                status: 'failed' as const,
                hits: 0,
                reason: event.output.ok ? undefined : event.output.reason,
                ms: event.output.ms
              })
            })
          }
        ],
        onError: {
          target: 'failed',
          actions: assign({
            outcome: ({ context, event }) => ({ source: context.handle.source, status: 'failed' as const, hits: 0, reason: reasonOf(event.error), ms: 0 })
          })
        }
      },
      after: {
        timeout: {
          target: 'timedOut',
          actions: assign({
            outcome: ({ context }) => ({ source: context.handle.source, status: 'timedOut' as const, hits: 0, reason: 'timeout', ms: context.timeoutMs })
          })
        }
      }
    },
    answered: { type: 'final' },
    failed: { type: 'final' },
    timedOut: { type: 'final' }
  },
  output: ({ context }) => ({ outcome: context.outcome!, pieces: context.pieces })
})

// ---------------------------------------------------------------------------
// One query

export interface QueryInput {
  parent: AnyActorRef
  queryId: string
  filter: PieceFilter
  limit: number | undefined
  timeoutMs: number
  handles: SourceHandle[]
  startedAt: number
}

interface QueryContext extends QueryInput {
  /** Child id -> source, for the sources that have not ended */
  pending: Record<string, QuerySource>
  outcomes: SourceOutcome[]
  /** The hits of every source that answered, in order of arrival */
  answers: Array<{ source: QuerySource, hits: CatalogHit[] }>
}

export type QueryMachineEvent = DoneActorEvent<SourceOutput> | { type: 'abort' }

/** Reports of a query to the catalog */
export type QueryReport =
  | { type: 'query.batch', queryId: string, source: QuerySource, hits: CatalogHit[] }
  | { type: 'query.done', queryId: string, summary: QuerySummary, hits: CatalogHit[], sources: SourceOutcome[] }

function toHit (piece: Piece, source: QuerySource): CatalogHit {
  const hit: CatalogHit = { hash: piece.hash, instrument: piece.instrument, sources: [source] }
  if (piece.title != null) hit.title = piece.title
  if (piece.composer != null) hit.composer = piece.composer
  if (piece.notes != null) hit.notes = piece.notes
  return hit
}

function sourceKey (source: QuerySource): string {
  return source.kind === 'local' ? 'local' : source.peerId
}

/** De-duplicate by hash keeping every source (in order of arrival), sorted by title then hash */
export function mergeHits (answers: Array<{ source: QuerySource, hits: CatalogHit[] }>): CatalogHit[] {
  const merged = new Map<string, { hit: CatalogHit, key: string }>()
  for (const { source, hits } of answers) {
    for (const hit of hits) {
      const seen = merged.get(hit.hash)
      if (seen == null) merged.set(hit.hash, { hit: { ...hit, sources: [source] }, key: (hit.title ?? '').toLowerCase() })
      else seen.hit.sources.push(source)
    }
  }
  return [...merged.values()]
    .sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.hit.hash < b.hit.hash ? -1 : a.hit.hash > b.hit.hash ? 1 : 0)
    .map((m) => m.hit)
}

function childIds (handles: SourceHandle[]): string[] {
  const used = new Set<string>()
  return handles.map((h, i) => {
    let id = `source-${sourceKey(h.source)}`
    if (used.has(id)) id = `${id}-${i}`
    used.add(id)
    return id
  })
}

export const queryMachine = setup({
  types: {
    context: {} as QueryContext,
    input: {} as QueryInput,
    events: {} as QueryMachineEvent
  },
  actors: {
    source: sourceMachine
  },
  guards: {
    allEnded: ({ context }) => Object.keys(context.pending).length === 0
  }
}).createMachine({
  id: 'query',
  context: ({ input }) => {
    const ids = childIds(input.handles)
    return {
      ...input,
      pending: Object.fromEntries(ids.map((id, i) => [id, input.handles[i]!.source])),
      outcomes: [],
      answers: []
    }
  },
  initial: 'running',
  states: {
    running: {
      entry: enqueueActions(({ context, enqueue }) => {
        const ids = childIds(context.handles)
        context.handles.forEach((handle, i) => {
          enqueue.spawnChild('source', {
            id: ids[i]!,
            input: { handle, filter: context.filter, timeoutMs: context.timeoutMs, startedAt: context.startedAt }
          })
        })
      }),
      always: { guard: 'allEnded', target: 'done' },
      on: {
        'xstate.done.actor.*': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (!(event.actorId in context.pending)) return
            const pending = { ...context.pending }
            delete pending[event.actorId]
            const { outcome, pieces } = event.output
            const outcomes = [...context.outcomes, outcome]
            if (outcome.status !== 'answered') {
              enqueue.assign({ pending, outcomes })
              return
            }
            const { source } = outcome
            const hits = pieces.map((p) => toHit(p, source))
            enqueue.assign({ pending, outcomes, answers: [...context.answers, { source, hits }] })
            enqueue.sendTo(context.parent, { type: 'query.batch', queryId: context.queryId, source, hits } satisfies QueryReport)
          })
        },
        abort: {
          target: 'done',
          actions: assign({
            pending: {},
            outcomes: ({ context }) => [
              ...context.outcomes,
              ...Object.values(context.pending).map((source): SourceOutcome => ({ source, status: 'failed', hits: 0, reason: 'stopped', ms: 0 }))
            ]
          })
        }
      }
    },
    done: {
      type: 'final',
      entry: sendTo(({ context }) => context.parent, ({ context }): QueryReport => {
        const all = mergeHits(context.answers)
        const count = (status: SourceOutcome['status']): number => context.outcomes.filter((o) => o.status === status).length
        return {
          type: 'query.done',
          queryId: context.queryId,
          summary: { answered: count('answered'), timedOut: count('timedOut'), failed: count('failed'), total: all.length },
          hits: context.limit == null ? all : all.slice(0, context.limit),
          sources: context.outcomes
        }
      })
    }
  }
})

// ---------------------------------------------------------------------------
// One companion's replicated catalog

/** How a replica opens and retries */
export interface ReplicaOptions {
  /** Give up fetching a companion's db after this long, and try again later (ms) */
  openTimeoutMs: number
  /** First wait before opening a failed replica again while its companion is online (ms); doubles each time */
  retryInitialMs: number
  /** Longest wait between two attempts (ms) */
  retryMaxMs: number
}

export interface ReplicaInput {
  parent: AnyActorRef
  profile: CompanionProfile
  transport: Transport
  log: Logger
  /** Whether the companion is online now; the catalog sends `online`/`offline` as it changes */
  online: boolean
  options: ReplicaOptions
}

interface ReplicaContext extends ReplicaInput {
  store: ReplicaStore | undefined
  size: number
  invalid: number
  /** Reason code when failed */
  reason: string | undefined
  error: Error | undefined
  /** Failed attempts since the replica was last ready */
  attempts: number
}

export type ReplicaMachineEvent =
  | { type: 'close' }
  /** The companion is online (again): a failed replica is opened again at once */
  | { type: 'online' }
  | { type: 'offline' }
  /** Open a failed replica again now */
  | { type: 'retry' }
  | { type: 'replica.loaded', hasData: boolean, size: number, invalid: number }
  | { type: 'replica.synced', size: number, invalid: number }
  | { type: 'replica.changed', size: number, invalid: number }
  | { type: 'replica.error', error: Error }

/** What a replica reports to the catalog */
export interface ReplicaReport {
  type: 'replica.updated'
  userDb: string
  peerId: string
  username: string
  pieces: number
  invalid: number
}

/**
 * Failures that opening the same address again cannot fix (a new address in
 * the companion's profile replaces the replica instead)
 */
export const PERMANENT_REPLICA_FAILURES: readonly string[] = ['invalid-address', 'invalid-manifest', 'not-a-catalog']

export const replicaMachine = setup({
  types: {
    context: {} as ReplicaContext,
    input: {} as ReplicaInput,
    events: {} as ReplicaMachineEvent
  },
  actors: {
    openReplica: fromPromise<ReplicaStore, { transport: Transport, address: string, timeoutMs: number, log: Logger }>(async ({ input, signal }) =>
      await openReplicaStore(input.transport, input.address, { log: input.log, signal, timeoutMs: input.timeoutMs })),
    /** Feeds the index from the db's `update` events; a `join` means we synced with a peer */
    followReplica: fromCallback<ReplicaMachineEvent, { store: ReplicaStore }>(({ input, sendBack }) => {
      const { db, follower, index } = input.store
      const counts = (): { size: number, invalid: number } => ({ size: index.size, invalid: index.invalid })
      const fail = (err: unknown): void => { sendBack({ type: 'replica.error', error: toError(err) }) }
      const offChange = follower.onChange(() => { sendBack({ type: 'replica.changed', ...counts() }) })
      const onUpdate = (entry: Entry<Operation>): void => { follower.catchUp([entry]).catch(fail) }
      const onJoin = (_peer: unknown, heads: Array<Entry<Operation>>): void => {
        follower.catchUp(heads).then(() => { sendBack({ type: 'replica.synced', ...counts() }) }, fail)
      }
      db.events.on('update', onUpdate)
      db.events.on('join', onJoin)
      // Whatever is stored locally (an earlier session's replica), then start
      // exchanging heads (the db was opened with `sync: false`)
      follower.catchUp().then(() => {
        sendBack({ type: 'replica.loaded', hasData: follower.entries > 0, ...counts() })
        return db.sync.start()
      }).catch(fail)
      return () => {
        offChange()
        db.events.off('update', onUpdate)
        db.events.off('join', onJoin)
      }
    }),
    closeReplica: fromPromise<void, { store: ReplicaStore | undefined }>(async ({ input }) => {
      if (input.store == null) return
      await input.store.follower.idle()
      await input.store.db.close()
    })
  },
  actions: {
    /** Keep the size and invalid count the follower reported */
    counts: assign(({ event }) => 'size' in event ? { size: event.size, invalid: event.invalid } : {}),
    /** Tell the catalog (which emits `catalog:replicated`) what the replica holds */
    report: sendTo(({ context }) => context.parent, ({ context }): ReplicaReport => ({
      type: 'replica.updated',
      userDb: context.profile.userDb,
      peerId: context.profile.nodeId,
      username: context.profile.username,
      pieces: context.size,
      invalid: context.invalid
    }))
  },
  guards: {
    hasData: ({ event }) => event.type === 'replica.loaded' && event.hasData,
    retryable: ({ context }) => !PERMANENT_REPLICA_FAILURES.includes(context.reason ?? ''),
    retryNow: ({ context }) => context.online && !PERMANENT_REPLICA_FAILURES.includes(context.reason ?? '')
  },
  delays: {
    /** Exponential backoff: retryInitialMs, twice that, ... at most retryMaxMs */
    retryDelay: ({ context }) => Math.min(context.options.retryMaxMs, context.options.retryInitialMs * 2 ** Math.max(0, context.attempts - 1))
  }
}).createMachine({
  id: 'replica',
  context: ({ input }) => ({ ...input, store: undefined, size: 0, invalid: 0, reason: undefined, error: undefined, attempts: 0 }),
  initial: 'opening',
  on: {
    online: { actions: assign({ online: true }) },
    offline: { actions: assign({ online: false }) }
  },
  states: {
    opening: {
      invoke: {
        src: 'openReplica',
        input: ({ context }) => ({ transport: context.transport, address: context.profile.pieces, timeoutMs: context.options.openTimeoutMs, log: context.log }),
        onDone: { target: 'open', actions: assign({ store: ({ event }) => event.output }) },
        onError: {
          target: 'failed',
          actions: assign({ error: ({ event }) => toError(event.error), reason: ({ event }) => reasonOf(event.error), attempts: ({ context }) => context.attempts + 1 })
        }
      },
      on: { close: 'closed' }
    },
    open: {
      invoke: { src: 'followReplica', input: ({ context }) => ({ store: context.store! }) },
      initial: 'loading',
      on: {
        close: 'closing',
        'replica.changed': { actions: 'counts' },
        'replica.error': {
          target: 'failed',
          actions: assign({ error: ({ event }) => event.error, reason: 'replication-error', attempts: ({ context }) => context.attempts + 1 })
        }
      },
      states: {
        loading: {
          on: {
            'replica.loaded': [
              { guard: 'hasData', target: 'ready', actions: 'counts' },
              { target: 'waiting', actions: 'counts' }
            ]
          }
        },
        /** Nothing stored locally yet: wait for the first sync with a peer that has the db */
        waiting: {
          on: {
            'replica.synced': { target: 'ready', actions: 'counts' }
          }
        },
        /** Queries are answered from the index */
        ready: {
          entry: ['report', assign({ attempts: 0, reason: undefined, error: undefined })],
          on: {
            'replica.changed': { actions: ['counts', 'report'] },
            'replica.synced': { actions: ['counts', 'report'] }
          }
        }
      }
    },
    closing: {
      invoke: {
        src: 'closeReplica',
        input: ({ context }) => ({ store: context.store }),
        onDone: 'closed',
        onError: 'closed'
      }
    },
    /**
     * Could not open or replicate. Unless the failure is permanent, it is opened
     * again after a backoff while the companion is online, and at once when the
     * companion comes online (again).
     */
    failed: {
      after: {
        retryDelay: { guard: 'retryNow', target: 'retrying' }
      },
      on: {
        close: 'closing',
        online: { guard: 'retryable', target: 'retrying', actions: assign({ online: true }) },
        retry: { guard: 'retryable', target: 'retrying' }
      }
    },
    /** Close what a failed attempt left open, then open again */
    retrying: {
      invoke: {
        src: 'closeReplica',
        input: ({ context }) => ({ store: context.store }),
        onDone: { target: 'opening', actions: assign({ store: undefined }) },
        onError: { target: 'opening', actions: assign({ store: undefined }) }
      },
      on: { close: 'closing' }
    },
    closed: { type: 'final' }
  }
})

export type ReplicaRef = ActorRefFrom<typeof replicaMachine>

/** The state of a replica as one word: `opening`, `loading`, `waiting`, `ready`, `closing`, `failed`, `retrying`, `closed` */
export function replicaState (replica: ReplicaRef): string {
  const { value } = replica.getSnapshot()
  return typeof value === 'string' ? value : value.open
}

// ---------------------------------------------------------------------------
// The catalog

export interface CompanionState {
  profile: CompanionProfile
  peerId: string
  /** False after `companion:offline`, true after `companion:discovered`/`companion:online` */
  online: boolean
  replica: ReplicaRef | undefined
}

export interface CatalogMachineInput {
  bus: Bus
  transport: Transport
  defaultQueryTimeoutMs: number
  log: Logger
  replicas: ReplicaOptions
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

const COMPANION_EVENTS = ['companion:discovered', 'companion:online', 'companion:offline', 'companion:removed'] as const

export type CatalogMachineEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | BusEvent<typeof COMPANION_EVENTS[number]>
  | { type: 'query', queryId: string, filter: PieceFilter, limit: number | undefined, timeoutMs: number, startedAt: number }
  /** Run one write; its result is the output of the child `write-<writeId>` */
  | { type: 'write', writeId: string, op: WriteOp }
  | DoneActorEvent<WriteOutput | undefined>
  | ErrorActorEvent
  | QueryReport
  | ReplicaReport
  | { type: 'own.changed', changes: PieceChange[] }
  | { type: 'profile.username', username: string | undefined }

export type CatalogEmitted = BusEvent<'catalog:result' | 'catalog:done' | 'catalog:changed' | 'catalog:replicated'>

/** The sources of a query: our catalog first, then every known companion */
export function querySources (context: CatalogMachineContext): SourceHandle[] {
  const { transport, stores } = context
  if (stores == null) return []
  // never throw here (this runs inside an action): the transport may have stopped under us
  const peerId = transport.isStarted() ? transport.peerId : ''
  const local: SourceHandle = {
    source: { kind: 'local', username: context.username ?? peerId, peerId },
    answer: async (filter) => stores.pieceIndex.find(filter)
  }
  const companions = Object.values(context.companions).map((c): SourceHandle => ({
    source: { kind: 'companion', username: c.profile.username, peerId: c.peerId },
    answer: async (filter, signal) => {
      if (!c.online || !transport.isConnected(c.peerId)) {
        throw new SourceUnavailableError('offline', `${c.profile.username} (${c.peerId}) is not connected`)
      }
      // Another device of ours, sharing our identity and so our pieces db
      if (c.profile.pieces === stores.pieces.address) return stores.pieceIndex.find(filter)
      if (c.replica == null) throw new SourceUnavailableError('no-replica', `${c.profile.username}'s catalog is not open`)
      const snapshot = await waitFor(c.replica, (s) => s.matches({ open: 'ready' }) || s.matches('failed') || s.status !== 'active', { signal })
      const store = snapshot.context.store
      if (!snapshot.matches({ open: 'ready' }) || store == null) {
        throw new SourceUnavailableError(snapshot.context.reason ?? 'replica-closed', `${c.profile.username}'s catalog could not be opened`, { cause: snapshot.context.error })
      }
      return store.index.find(filter)
    }
  }))
  return [local, ...companions]
}

const isActive = (replica: ReplicaRef | undefined): replica is ReplicaRef => replica?.getSnapshot().status === 'active'

/**
 * The catalog's lifecycle: `stopped -> starting -> running -> stopping ->
 * stopped` (or `failed`). While running it follows companions from the bus
 * (spawning a replica per companion), spawns a child per query and one per
 * write. Stopping first waits for the writes under way (at most
 * `writeDrainTimeout`), then closes the stores.
 */
export const catalogMachine = setup({
  types: {
    context: {} as CatalogMachineContext,
    input: {} as CatalogMachineInput,
    events: {} as CatalogMachineEvent,
    emitted: {} as CatalogEmitted
  },
  actors: {
    bus: fromBus(COMPANION_EVENTS),
    openStores: fromPromise<OwnStores, { transport: Transport, log: Logger }>(async ({ input, signal }) =>
      await openOwnStores(input.transport.orbitdb, input.log, signal)),
    closeStores: fromPromise<void, { stores: OwnStores | undefined, replicas: ReplicaStore[], transport: Transport }>(async ({ input }) => {
      const results = await Promise.allSettled([
        ...input.replicas.map(async (r) => { await r.follower.idle(); await r.db.close() }),
        input.stores == null ? Promise.resolve() : closeOwnStores(input.stores)
      ])
      const failed = results.find((r) => r.status === 'rejected')
      // a transport that stopped first has closed every db with its OrbitDB already
      if (failed != null && input.transport.isStarted()) throw failed.reason
    }),
    /** Keeps our indexes up to date from our dbs' `update` events (local writes and other devices of ours) */
    followOwn: fromCallback<CatalogMachineEvent, { stores: OwnStores }>(({ input, sendBack }) => {
      const { pieces, practice, user, piecesFollower, practiceFollower } = input.stores
      const report = (changes: PieceChange[]): void => { sendBack({ type: 'own.changed', changes }) }
      const ignore = (): void => {}
      const offPieces = piecesFollower.onChange(report)
      const offPractice = practiceFollower.onChange(report)
      const onPieces = (entry: Entry<Operation>): void => { piecesFollower.catchUp([entry]).catch(ignore) }
      const onPractice = (entry: Entry<Operation>): void => { practiceFollower.catchUp([entry]).catch(ignore) }
      const readUsername = (): void => {
        user.get('username').then((value) => {
          sendBack({ type: 'profile.username', username: typeof value === 'string' ? value : undefined })
        }, ignore)
      }
      pieces.events.on('update', onPieces)
      practice.events.on('update', onPractice)
      user.events.on('update', readUsername)
      // entries that arrived between opening and now
      piecesFollower.catchUp().catch(ignore)
      practiceFollower.catchUp().catch(ignore)
      readUsername()
      return () => {
        offPieces()
        offPractice()
        pieces.events.off('update', onPieces)
        practice.events.off('update', onPractice)
        user.events.off('update', readUsername)
      }
    }),
    /** One write to our stores (see {@link performWrite}); its output or error is the facade's answer */
    write: fromPromise<WriteOutput, { stores: OwnStores, transport: Transport, op: WriteOp, log: Logger }>(async ({ input, signal }) => {
      try {
        return await performWrite(input.stores, input.transport, input.op, signal)
      } catch (err) {
        input.log('%s failed: %s', input.op.kind, toError(err).message)
        throw err
      }
    }),
    replica: replicaMachine,
    query: queryMachine
  },
  actions: {
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
      enqueue.assign({ companions: { ...context.companions, [profile.userDb]: { profile, peerId, online, replica } } })
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
    /** Open a replica for every known companion that has none running (not for our own pieces db) */
    ensureReplicas: assign(({ context, spawn, self }) => {
      const own = context.stores?.pieces.address
      let replicaSeq = context.replicaSeq
      const companions = { ...context.companions }
      const children = self.getSnapshot().children as Record<string, unknown>
      for (const [userDb, c] of Object.entries(companions)) {
        // a replica that ended (closed, or its actor failed) is replaced
        if (isActive(c.replica) || c.profile.pieces === own) continue
        let id = `replica-${c.peerId}`
        if (children[id] != null) id = `${id}-${++replicaSeq}`
        const input: ReplicaInput = { parent: self, profile: c.profile, transport: context.transport, log: context.log, online: c.online, options: context.replicas }
        companions[userDb] = { ...c, replica: spawn('replica', { id, input }) }
      }
      return { companions, replicaSeq }
    }),
    spawnQuery: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'query') return
      enqueue.spawnChild('query', {
        id: `query-${event.queryId}`,
        input: {
          parent: self,
          queryId: event.queryId,
          filter: event.filter,
          limit: event.limit,
          timeoutMs: event.timeoutMs,
          handles: querySources(context),
          startedAt: event.startedAt
        }
      })
      enqueue.assign({ queries: [...context.queries, event.queryId] })
    }),
    spawnWrite: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'write' || context.stores == null) return
      const id = writeActorId(event.writeId)
      enqueue.spawnChild('write', { id, input: { stores: context.stores, transport: context.transport, op: event.op, log: context.log } })
      enqueue.assign({ writes: { ...context.writes, [id]: event.op } })
    }),
    /**
     * A child ended. A write (its caller reads the result from the actor): forget it,
     * and note a new username. A replica that was closed: stop it too (an actor that
     * ended stays among the children until stopped).
     */
    childEnded: enqueueActions(({ context, event, enqueue }) => {
      if (!('actorId' in event)) return
      const closedReplica = event.actorId.startsWith('replica-') &&
        !Object.values(context.companions).some((c) => c.replica?.id === event.actorId)
      if (closedReplica) enqueue.stopChild(event.actorId)
      const op = context.writes[event.actorId]
      if (op == null) return
      const writes = { ...context.writes }
      delete writes[event.actorId]
      enqueue.assign({ writes })
      // with its input (the op, a score's bytes)
      enqueue.stopChild(event.actorId)
      if (!event.type.startsWith('xstate.done.actor.')) return
      // the local source of the next query carries the new name at once
      if (op.kind === 'profile.put' && op.field === 'username') enqueue.assign({ username: typeof op.value === 'string' ? op.value : undefined })
      if (op.kind === 'profile.del' && op.field === 'username') enqueue.assign({ username: undefined })
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
    })
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequested,
    noPendingWrites: ({ context }) => Object.keys(context.writes).length === 0
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
  on: {
    // Queries, writes and replicas report in every state, so queries aborted by a stop still end
    'query.batch': {
      actions: emit(({ event }) => ({ type: 'catalog:result' as const, queryId: event.queryId, source: event.source, hits: event.hits }))
    },
    'query.done': {
      actions: [
        emit(({ event }) => ({ type: 'catalog:done' as const, queryId: event.queryId, summary: event.summary, hits: event.hits, sources: event.sources })),
        assign({ queries: ({ context, event }) => context.queries.filter((id) => id !== event.queryId) }),
        // the query has ended; stopped, it leaves the children (with its sources' answers)
        stopChild(({ event }) => `query-${event.queryId}`)
      ]
    },
    'replica.updated': {
      actions: emit(({ event }) => ({
        type: 'catalog:replicated' as const,
        userDb: event.userDb,
        peerId: event.peerId,
        username: event.username,
        pieces: event.pieces,
        invalid: event.invalid
      }))
    },
    'xstate.done.actor.*': { actions: 'childEnded' },
    'xstate.error.actor.*': { actions: 'childEnded' }
  },
  states: {
    stopped: {
      on: { start: 'starting' }
    },
    starting: {
      entry: assign({ error: undefined, stopRequested: false }),
      on: { stop: { actions: assign({ stopRequested: true }) } },
      invoke: {
        src: 'openStores',
        input: ({ context }) => ({ transport: context.transport, log: context.log }),
        onDone: [
          { guard: 'stopRequested', target: 'stopping', actions: assign({ stores: ({ event }) => event.output }) },
          { target: 'running', actions: assign({ stores: ({ event }) => event.output }) }
        ],
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toError(event.error) }) }
      }
    },
    running: {
      entry: 'ensureReplicas',
      invoke: [
        { src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
        { src: 'followOwn', input: ({ context }) => ({ stores: context.stores! }) }
      ],
      on: {
        stop: 'stopping',
        'companion:discovered': { actions: ['recordCompanion', 'ensureReplicas'] },
        'companion:online': { actions: ['recordCompanion', 'ensureReplicas'] },
        'companion:offline': { actions: 'recordCompanion' },
        'companion:removed': { actions: 'forgetCompanion' },
        query: { actions: 'spawnQuery' },
        write: { actions: 'spawnWrite' },
        'own.changed': { actions: 'emitChanges' },
        'profile.username': { actions: assign({ username: ({ event }) => event.username }) }
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
            input: ({ context }) => ({
              stores: context.stores,
              transport: context.transport,
              replicas: Object.values(context.companions).flatMap((c) => {
                const snapshot = c.replica?.getSnapshot()
                const store = snapshot?.context.store
                return store == null || snapshot?.status !== 'active' || snapshot.matches('closing') || snapshot.matches('retrying') ? [] : [store]
              })
            }),
            onDone: { target: '#catalog.stopped', actions: ['stopReplicas', assign({ stores: undefined })] },
            onError: { target: '#catalog.failed', actions: ['stopReplicas', assign({ stores: undefined, error: ({ event }) => toError(event.error) })] }
          }
        }
      }
    },
    failed: {
      on: { start: 'starting' }
    }
  }
})
