import { fromBus, toError } from '@npp/bus'
import { keepEarly, omit } from '@npp/kit'
import { assertEvent, assign, emit, enqueueActions, setup } from 'xstate'
import { companionMultiaddrs, mergeHosts, sameAddresses } from './addresses.js'
import { companionActorId, companionMachine } from './companion.machine.js'
import { loadCompanions, store } from './companions.actors.js'
import { CompanionProfileSchema } from './schema.js'
import type { Backoff, CompanionReport } from './companion.machine.js'
import type { LoadOutput, StoreCommand, StoreReport } from './companions.actors.js'
import type { CompanionRecord } from './schema.js'
import type { Bus, BusEvent } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

/** Bus events companions emits (forwarded to the bus in one place, `createCompanions`) */
export type CompanionsEmitted = BusEvent<'companion:online' | 'companion:offline' | 'companion:removed'>

export interface CompanionsInput {
  bus: Bus
  transport: Transport
  backoff: Backoff
  log: Logger
  /** Clock for firstSeen/lastSeen (default Date.now) */
  now?: () => number
  /** Randomness for the backoff jitter (default Math.random) */
  random?: () => number
}

/** Bus events kept while not running (see `keepEarly` of `@npp/kit`) */
const EARLY = ['companion:discovered'] as const
type EarlyEvent = BusEvent<typeof EARLY[number]>

export interface CompanionsContext {
  bus: Bus
  transport: Transport
  backoff: Backoff
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
  /** Bus events that arrived while not running (at most `MAX_EARLY` of `@npp/kit`), handled on entering `running` */
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

/** Whether the companion's child runs (children exist only while running; sending to a missing one throws) */
const hasChild = (self: { getSnapshot(): { children: Record<string, unknown> } }, userDb: string): boolean =>
  self.getSnapshot().children[companionActorId(userDb)] != null

const companionsOf = (records: Record<string, CompanionRecord>, peerId: string): string[] =>
  Object.values(records).filter((r) => r.profile.nodeId === peerId).map((r) => r.userDb)

/** What recording a discovered companion changes (see the `upsert` action) */
interface Upsert {
  record: CompanionRecord
  /** The record it had before, if any */
  existing: CompanionRecord | undefined
  /** Older records of the same peer (under another user db): they go */
  replaced: CompanionRecord[]
  /** Whether the record differs from what is stored */
  changed: boolean
}

/**
 * The record of a discovered companion, pure: one record per peer (older
 * records of its peer are replaced, their addresses kept when discovery knew
 * none), addresses cleaned, `firstSeen` kept.
 */
function upsertRecord (records: Record<string, CompanionRecord>, event: BusEvent<'companion:discovered'>, now: number): Upsert {
  const { profile } = event
  const replaced = Object.values(records).filter((r) => r.profile.nodeId === profile.nodeId && r.userDb !== profile.userDb)
  const existing = records[profile.userDb]
  const announced = companionMultiaddrs(profile.nodeId, event.multiaddrs)
  const multiaddrs = announced.length > 0 ? announced : existing?.multiaddrs ?? replaced[0]?.multiaddrs ?? []
  const hosts = existing?.hosts ?? replaced[0]?.hosts ?? []
  const record: CompanionRecord = { userDb: profile.userDb, profile, multiaddrs, hosts, firstSeen: existing?.firstSeen ?? now, lastSeen: now }
  const changed = existing == null ||
    JSON.stringify(existing.profile) !== JSON.stringify(record.profile) || !sameAddresses(existing.multiaddrs, record.multiaddrs)
  return { record, existing, replaced, changed }
}

/**
 * Companions' lifecycle: `stopped -> starting -> active.running ->
 * active.draining -> stopped` (or `failed`). Starting loads the `companions`
 * db; while running there is one {@link companionMachine} child per companion
 * (`companion-<cid>`), and every change is written through the `store` actor;
 * stopping waits until the writes are done.
 *
 * One record per peer, here and nowhere else: a `companion:discovered` with a
 * new `user` db of a peer we keep already replaces the old record (deleted,
 * its child stopped, `companion:removed` emitted for it, so that discovery
 * and the catalog drop it too). `companion:discovered` events are checked
 * against {@link CompanionProfileSchema} and their addresses cleaned
 * (`companionMultiaddrs`) before anything is stored.
 *
 * Online and offline come from the children only (each emits its change
 * once, through `child.emit`); this machine forwards them.
 *
 * The bus actor lives as long as the machine: a `companion:discovered` that
 * arrives while not running (up to `MAX_EARLY`) is recorded as soon as it
 * runs. Peer events need no such care: each companion asks the transport
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
    clearError: assign({ error: undefined }),
    setLoaded: assign((_, output: LoadOutput) => ({ db: output.db, records: output.records, invalid: output.invalid })),
    setError: assign({ error: (_, params: { error: unknown }) => toError(params.error) }),
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
      const { record, existing, replaced, changed } = upsertRecord(context.records, event, context.now())
      let records = context.records
      let pendingWrites = context.pendingWrites
      for (const old of replaced) {
        enqueue.stopChild(companionActorId(old.userDb))
        enqueue.sendTo('store', { type: 'del', userDb: old.userDb } satisfies StoreCommand)
        enqueue.emit({ type: 'companion:removed', userDb: old.userDb, peerId: old.profile.nodeId })
        records = omit(records, old.userDb)
        pendingWrites++
      }
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
      assertEvent(event, ['peer:connected', 'peer:disconnected'])
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
      const record = { ...existing, multiaddrs: companionMultiaddrs(existing.profile.nodeId, event.multiaddrs), hosts: mergeHosts(event.hosts, existing.hosts), lastSeen: context.now() }
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
      assertEvent(event, ['store.written', 'store.failed'])
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
        return keepEarly(context.early, event)
      }
    }),
    /** Handle the kept events, oldest first, as if they arrived now */
    handleEarly: enqueueActions(({ context, enqueue }) => {
      for (const event of context.early) enqueue.raise(event)
      enqueue.assign({ early: [] })
    }),
    /** Emit a child's status change: the one place `companion:online`/`companion:offline` come from */
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
      entry: 'clearError',
      on: { stop: 'stopped' },
      invoke: {
        src: 'loadCompanions',
        input: ({ context }) => ({ transport: context.transport, log: context.log }),
        onDone: { target: 'active', actions: { type: 'setLoaded', params: ({ event }) => event.output } },
        onError: { target: 'failed', actions: { type: 'setError', params: ({ event }) => ({ error: event.error }) } }
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
