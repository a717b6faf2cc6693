import { fromBus, toError } from '@npp/bus'
import { assertEvent, assign, emit, enqueueActions, sendParent, setup } from 'xstate'
import { checkConnection, dial, loadCompanions, store, watchAddresses } from './actors.js'
import { companionMultiaddrs } from './addresses.js'
import { CompanionProfileSchema } from './schema.js'
import type { CompanionRecord, StoreCommand, StoreReport } from './actors.js'
import type { Bus, BusEvent } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

/** Bus events companions emits (forwarded to the bus in one place, `createCompanions`) */
export type CompanionsEmitted = BusEvent<'companion:online' | 'companion:offline' | 'companion:removed'>

/** Exponential backoff with jitter for redialling offline companions */
export interface BackoffOptions {
  /** First delay after a companion went offline (ms) */
  initialMs: number
  /** Largest delay (ms) */
  maxMs: number
  /** Growth per failed attempt */
  factor: number
  /** 0..1: each delay is shortened by up to this fraction, at random, so peers do not redial in lockstep */
  jitter: number
}

/**
 * Delay before redial attempt `attempt` (0 = the first after going offline):
 * `min(maxMs, initialMs * factor^attempt)`, shortened at random by up to
 * `jitter` of itself. Never above `maxMs`, never below `(1 - jitter)` of the
 * un-jittered delay.
 */
export function backoffDelay (attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** attempt)
  return Math.round(base * (1 - options.jitter * random()))
}

/** Id of the child actor of a companion */
export const companionActorId = (userDb: string): string => `companion-${userDb.replace(/^\/orbitdb\//, '')}`

/** A status a companion's child reports to the parent */
export type CompanionReport =
  | { type: 'child.emit', event: CompanionsEmitted }
  /** It went online or offline now: update `lastSeen` (and persist it when going offline) */
  | { type: 'companion.seen', userDb: string, persist: boolean }
  /** libp2p knows (new) addresses of it */
  | { type: 'companion.addresses', userDb: string, multiaddrs: string[] }

// ---------------------------------------------------------------------------
// One companion: online / offline / reconnecting
// ---------------------------------------------------------------------------

export interface CompanionInput {
  record: CompanionRecord
  transport: Transport
  backoff: BackoffOptions
  log: Logger
  /** False for a new companion whose record is being written: the child waits for `saved` */
  saved: boolean
  random: () => number
}

export interface CompanionContext {
  record: CompanionRecord
  transport: Transport
  backoff: BackoffOptions
  log: Logger
  saved: boolean
  random: () => number
  /** Failed redials since it was last online */
  attempt: number
  /** The last status emitted on the bus, so each change is emitted once */
  emitted: 'online' | 'offline' | undefined
  lastError: string | undefined
}

export type CompanionEvent =
  | { type: 'saved' }
  | { type: 'peer.connected' }
  | { type: 'peer.disconnected' }
  | { type: 'record', record: CompanionRecord }
  | { type: 'addresses', multiaddrs: string[] }

const sameList = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i])

/**
 * A companion's connection state. A new companion first waits in `saving`
 * until its record is written (so `companion:online` means it survives a
 * crash). Then `checking` asks the transport whether the peer is connected
 * now (never a snapshot from before: the peer may have gone while we were
 * loading or saving). Then `online` until libp2p reports the peer
 * disconnected; then `offline` (emitted at once) and, after a backoff delay
 * that grows with every failed attempt, `reconnecting` (one dial over its
 * last-known addresses). A `peer:connected` of the companion in any state
 * makes it `online` again and ends redialling.
 */
export const companionMachine = setup({
  types: {
    context: {} as CompanionContext,
    input: {} as CompanionInput,
    events: {} as CompanionEvent
  },
  actors: { checkConnection, dial, watchAddresses },
  delays: {
    backoff: ({ context }) => backoffDelay(context.attempt, context.backoff, context.random)
  },
  guards: {
    saved: ({ context }) => context.saved,
    addressesChanged: ({ context, event }) => event.type === 'addresses' && !sameList(event.multiaddrs, context.record.multiaddrs)
  },
  actions: {
    announceOnline: enqueueActions(({ context, enqueue }) => {
      if (context.emitted === 'online') return
      const { userDb, profile } = context.record
      enqueue.sendParent({ type: 'child.emit', event: { type: 'companion:online', userDb, peerId: profile.nodeId, profile } } satisfies CompanionReport)
      enqueue.assign({ emitted: 'online' })
    }),
    announceOffline: enqueueActions(({ context, enqueue }) => {
      if (context.emitted === 'offline') return
      const { userDb, profile } = context.record
      enqueue.sendParent({ type: 'child.emit', event: { type: 'companion:offline', userDb, peerId: profile.nodeId, profile } } satisfies CompanionReport)
      enqueue.assign({ emitted: 'offline' })
    }),
    seenNow: sendParent(({ context }): CompanionReport => ({ type: 'companion.seen', userDb: context.record.userDb, persist: false })),
    seenLast: sendParent(({ context }): CompanionReport => ({ type: 'companion.seen', userDb: context.record.userDb, persist: true })),
    reportAddresses: sendParent(({ context, event }): CompanionReport => {
      assertEvent(event, 'addresses')
      return { type: 'companion.addresses', userDb: context.record.userDb, multiaddrs: event.multiaddrs }
    }),
    resetAttempts: assign({ attempt: 0, lastError: undefined })
  }
}).createMachine({
  id: 'companion',
  context: ({ input }) => ({ ...input, attempt: 0, emitted: undefined, lastError: undefined }),
  initial: 'init',
  on: {
    record: { actions: assign({ record: ({ event }) => event.record }) }
  },
  states: {
    init: {
      always: [{ guard: 'saved', target: 'checking' }, { target: 'saving' }]
    },
    saving: {
      on: { saved: 'checking' }
    },
    checking: {
      invoke: {
        src: 'checkConnection',
        input: ({ context }) => ({ transport: context.transport, peerId: context.record.profile.nodeId }),
        onDone: [{ guard: ({ event }) => event.output, target: 'online' }, { target: 'reconnecting' }],
        onError: 'reconnecting'
      },
      // newer than the check: they decide
      on: { 'peer.connected': 'online', 'peer.disconnected': 'reconnecting' }
    },
    online: {
      entry: ['resetAttempts', 'announceOnline', 'seenNow'],
      invoke: {
        src: 'watchAddresses',
        input: ({ context }) => ({ transport: context.transport, peerId: context.record.profile.nodeId, log: context.log })
      },
      on: {
        'peer.disconnected': { target: 'offline', actions: 'seenLast' },
        addresses: {
          guard: 'addressesChanged',
          actions: [assign({ record: ({ context, event }) => ({ ...context.record, multiaddrs: event.multiaddrs }) }), 'reportAddresses']
        }
      }
    },
    offline: {
      entry: 'announceOffline',
      after: { backoff: 'reconnecting' },
      on: { 'peer.connected': 'online' }
    },
    reconnecting: {
      on: { 'peer.connected': 'online' },
      invoke: {
        src: 'dial',
        input: ({ context }) => ({ transport: context.transport, peerId: context.record.profile.nodeId, multiaddrs: context.record.multiaddrs }),
        onDone: [
          { guard: ({ event }) => event.output.connected, target: 'online' },
          { target: 'offline', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) }
        ],
        onError: {
          target: 'offline',
          actions: assign({
            attempt: ({ context }) => context.attempt + 1,
            lastError: ({ event }) => event.error instanceof Error ? event.error.message : String(event.error)
          })
        }
      }
    }
  }
})

// ---------------------------------------------------------------------------
// The root: the companions db, one child per companion
// ---------------------------------------------------------------------------

export interface CompanionsInput {
  bus: Bus
  transport: Transport
  backoff: BackoffOptions
  log: Logger
  /** Clock for firstSeen/lastSeen (default Date.now) */
  now?: () => number
  /** Randomness for the backoff jitter (default Math.random) */
  random?: () => number
}

/** Most bus events kept while not running, handled once running */
export const MAX_EARLY = 256

/** Bus events kept while not running (see `keepEarly`) */
const EARLY = ['companion:discovered'] as const
type EarlyEvent = BusEvent<typeof EARLY[number]>

export interface CompanionsContext {
  bus: Bus
  transport: Transport
  backoff: BackoffOptions
  log: Logger
  now: () => number
  random: () => number
  db: KeyValueDatabase<CompanionRecord> | undefined
  /** Every companion by its user db address (mirrors the db); at most one per peer */
  records: Record<string, CompanionRecord>
  /** Writes sent to the store and not yet done */
  pendingWrites: number
  /** Records in the db that failed validation when loaded */
  invalid: number
  /** Bus events that arrived while not running (at most {@link MAX_EARLY}), handled on entering `running` */
  early: EarlyEvent[]
  error: Error | undefined
}

export type CompanionsEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'remove', userDb: string }
  | BusEvent<'companion:discovered' | 'peer:connected' | 'peer:disconnected'>
  | CompanionReport
  | StoreReport

const omit = <V>(record: Record<string, V>, key: string): Record<string, V> => {
  const { [key]: _removed, ...rest } = record
  return rest
}
/** Whether the companion's child runs (children exist only while running; sending to a missing one throws) */
const hasChild = (self: { getSnapshot(): { children: Record<string, unknown> } }, userDb: string): boolean =>
  self.getSnapshot().children[companionActorId(userDb)] != null
const companionsOf = (records: Record<string, CompanionRecord>, peerId: string): string[] =>
  Object.values(records).filter((r) => r.profile.nodeId === peerId).map((r) => r.userDb)

/**
 * Companions' lifecycle: `stopped -> starting -> active.running ->
 * active.draining -> stopped` (or `failed`). Starting loads the `companions`
 * db; while running there is one {@link companionMachine} child per companion
 * (`companion-<cid>`), and every change is written through the `store` actor;
 * stopping waits until the writes are done.
 *
 * One record per peer: a `companion:discovered` with a new `user` db of a
 * peer we keep already replaces the old record (deleted, its child stopped,
 * `companion:removed` emitted for it, so that discovery and the catalog
 * drop it too). `companion:discovered` events are checked against
 * {@link CompanionProfileSchema} and their addresses cleaned
 * (`companionMultiaddrs`) before anything is stored.
 *
 * The bus actor lives as long as the machine: a `companion:discovered` that
 * arrives while not running (up to {@link MAX_EARLY}) is recorded as soon as
 * it runs. Peer events need no such care: each companion asks the transport
 * whether its peer is connected when its child starts.
 */
export const companionsMachine = setup({
  types: {
    context: {} as CompanionsContext,
    input: {} as CompanionsInput,
    events: {} as CompanionsEvent,
    emitted: {} as CompanionsEmitted
  },
  actors: {
    bus: fromBus(['companion:discovered', 'peer:connected', 'peer:disconnected']),
    loadCompanions,
    store,
    companion: companionMachine
  },
  delays: {
    /** Longest wait for pending writes when stopping */
    drainTimeout: 10_000
  },
  guards: {
    noPendingWrites: ({ context }) => context.pendingWrites === 0,
    validProfile: ({ event }) => event.type === 'companion:discovered' && CompanionProfileSchema.safeParse(event.profile).success
  },
  actions: {
    spawnCompanions: enqueueActions(({ context, enqueue }) => {
      for (const record of Object.values(context.records)) {
        enqueue.spawnChild('companion', {
          id: companionActorId(record.userDb),
          input: { record, transport: context.transport, backoff: context.backoff, log: context.log, saved: true, random: context.random }
        })
      }
    }),
    stopCompanions: enqueueActions(({ context, enqueue }) => {
      for (const userDb of Object.keys(context.records)) enqueue.stopChild(companionActorId(userDb))
    }),
    /** A validated companion, new or again: record (replacing the peer's older record), persist when something changed, and keep its child */
    upsert: enqueueActions(({ context, event, enqueue, self }) => {
      assertEvent(event, 'companion:discovered')
      const { profile } = event
      const records = { ...context.records }
      let pendingWrites = context.pendingWrites
      // one record per peer: a new user db of the same peer replaces the old one
      const replaced = Object.values(records).filter((r) => r.profile.nodeId === profile.nodeId && r.userDb !== profile.userDb)
      for (const old of replaced) {
        enqueue.stopChild(companionActorId(old.userDb))
        enqueue.sendTo('store', { type: 'del', userDb: old.userDb } satisfies StoreCommand)
        enqueue.emit({ type: 'companion:removed', userDb: old.userDb, peerId: old.profile.nodeId })
        delete records[old.userDb]
        pendingWrites++
      }
      const existing = records[profile.userDb]
      const now = context.now()
      const announced = companionMultiaddrs(profile.nodeId, event.multiaddrs)
      const multiaddrs = announced.length > 0 ? announced : existing?.multiaddrs ?? replaced[0]?.multiaddrs ?? []
      const record: CompanionRecord = { userDb: profile.userDb, profile, multiaddrs, firstSeen: existing?.firstSeen ?? now, lastSeen: now }
      const changed = existing == null ||
        JSON.stringify(existing.profile) !== JSON.stringify(record.profile) || !sameList(existing.multiaddrs, record.multiaddrs)
      if (changed) {
        enqueue.sendTo('store', { type: 'put', record } satisfies StoreCommand)
        pendingWrites++
      }
      if (existing == null) {
        enqueue.spawnChild('companion', {
          id: companionActorId(record.userDb),
          input: { record, transport: context.transport, backoff: context.backoff, log: context.log, saved: false, random: context.random }
        })
      } else if (hasChild(self, record.userDb)) {
        enqueue.sendTo(companionActorId(record.userDb), { type: 'record', record })
      }
      enqueue.assign({ records: { ...records, [record.userDb]: record }, pendingWrites })
    }),
    /** Tell the peer's companions (their children decide what it means in their state) */
    forwardPeerEvent: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'peer:connected' && event.type !== 'peer:disconnected') return
      const type = event.type === 'peer:connected' ? 'peer.connected' : 'peer.disconnected'
      for (const userDb of companionsOf(context.records, event.peerId).filter((id) => hasChild(self, id))) {
        enqueue.sendTo(companionActorId(userDb), { type })
      }
    }),
    seen: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'companion.seen')
      const existing = context.records[event.userDb]
      if (existing == null) return
      const record = { ...existing, lastSeen: context.now() }
      if (event.persist) enqueue.sendTo('store', { type: 'put', record } satisfies StoreCommand)
      enqueue.assign({ records: { ...context.records, [record.userDb]: record }, pendingWrites: context.pendingWrites + (event.persist ? 1 : 0) })
    }),
    addresses: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'companion.addresses')
      const existing = context.records[event.userDb]
      if (existing == null) return
      const record = { ...existing, multiaddrs: companionMultiaddrs(existing.profile.nodeId, event.multiaddrs), lastSeen: context.now() }
      enqueue.sendTo('store', { type: 'put', record } satisfies StoreCommand)
      enqueue.assign({ records: { ...context.records, [record.userDb]: record }, pendingWrites: context.pendingWrites + 1 })
    }),
    remove: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'remove')
      const existing = context.records[event.userDb]
      if (existing == null) return
      enqueue.stopChild(companionActorId(event.userDb))
      enqueue.sendTo('store', { type: 'del', userDb: event.userDb } satisfies StoreCommand)
      enqueue.emit({ type: 'companion:removed', userDb: event.userDb, peerId: existing.profile.nodeId })
      enqueue.assign({ records: omit(context.records, event.userDb), pendingWrites: context.pendingWrites + 1 })
    }),
    /** A write finished (or failed): count it, and let a new companion's child go on */
    written: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'store.written' && event.type !== 'store.failed') return
      if (hasChild(self, event.userDb)) enqueue.sendTo(companionActorId(event.userDb), { type: 'saved' })
      enqueue.assign({
        pendingWrites: context.pendingWrites - 1,
        error: event.type === 'store.failed' ? event.error : context.error
      })
    }),
    /** Keep a bus event that arrived while not running (at most MAX_EARLY), to handle it once running */
    keepEarly: assign({
      early: ({ context, event }) => {
        assertEvent(event, EARLY)
        return context.early.length < MAX_EARLY ? [...context.early, event] : context.early
      }
    }),
    /** Handle the kept events, oldest first, as if they arrived now */
    handleEarly: enqueueActions(({ context, enqueue }) => {
      for (const event of context.early) enqueue.raise(event)
      enqueue.assign({ early: [] })
    }),
    emitChild: emit(({ event }) => {
      assertEvent(event, 'child.emit')
      return event.event
    })
  }
}).createMachine({
  id: 'companions',
  context: ({ input }) => ({
    bus: input.bus,
    transport: input.transport,
    backoff: input.backoff,
    log: input.log,
    now: input.now ?? Date.now,
    random: input.random ?? Math.random,
    db: undefined,
    records: {},
    pendingWrites: 0,
    invalid: 0,
    early: [],
    error: undefined
  }),
  // Subscribed for the actor's whole life, so that a companion discovered while
  // we are starting (or stopped) is recorded once running.
  invoke: { id: 'bus', src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
  on: {
    'companion:discovered': { actions: 'keepEarly' }
  },
  initial: 'stopped',
  states: {
    stopped: {
      on: { start: 'starting' }
    },
    starting: {
      entry: assign({ error: undefined }),
      on: { stop: 'stopped' },
      invoke: {
        src: 'loadCompanions',
        input: ({ context }) => ({ transport: context.transport, log: context.log }),
        onDone: {
          target: 'active',
          actions: assign(({ event }) => ({ db: event.output.db, records: event.output.records, invalid: event.output.invalid }))
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toError(event.error) }) }
      }
    },
    active: {
      invoke: { id: 'store', src: 'store', input: ({ context }) => ({ db: context.db!, log: context.log }) },
      on: {
        'store.written': { actions: 'written' },
        'store.failed': { actions: 'written' }
      },
      initial: 'running',
      states: {
        running: {
          entry: ['spawnCompanions', 'handleEarly'],
          exit: 'stopCompanions',
          on: {
            stop: 'draining',
            remove: { actions: 'remove' },
            // a discovery that does not pass the schema is dropped (not kept for later)
            'companion:discovered': [{ guard: 'validProfile', actions: 'upsert' }, {}],
            'peer:connected': { actions: 'forwardPeerEvent' },
            'peer:disconnected': { actions: 'forwardPeerEvent' },
            'companion.seen': { actions: 'seen' },
            'companion.addresses': { actions: 'addresses' },
            'child.emit': { actions: 'emitChild' }
          }
        },
        draining: {
          always: { guard: 'noPendingWrites', target: '#companions.stopped' },
          after: { drainTimeout: '#companions.stopped' }
        }
      }
    },
    failed: {
      on: { start: 'starting' }
    }
  }
})
