import { backoffDelay } from '@npp/kit'
import { assertEvent, assign, enqueueActions, sendParent, setup } from 'xstate'
import { mergeHosts, sameAddresses } from './addresses.js'
import { checkConnection, dial, watchAddresses } from './companion.actors.js'
import type { CompanionRecord } from './schema.js'
import type { BusEvent } from '@npp/bus'
import type { BackoffOptions } from '@npp/kit'
import type { Logger, Transport } from '@npp/transport'

/** Redialling of offline companions with every option resolved (see `backoffDelay` of `@npp/kit`: attempt 0 = the first redial) */
export type Backoff = Required<BackoffOptions>

/** The bus events a companion's child reports; its parent emits them (see {@link CompanionReport}) */
export type CompanionStatusEvent = BusEvent<'companion:online' | 'companion:offline'>

/** Id of the child actor of a companion */
export const companionActorId = (userDb: string): string => `companion-${userDb.replace(/^\/orbitdb\//, '')}`

/** What a companion's child reports to its parent */
export type CompanionReport =
  /** Emit this on the bus: the companion went online or offline */
  | { type: 'child.emit', event: CompanionStatusEvent }
  /** It went online or offline now: update `lastSeen` (and persist it when going offline) */
  | { type: 'companion.seen', userDb: string, persist: boolean }
  /** libp2p knows (new) addresses of it */
  | { type: 'companion.addresses', userDb: string, multiaddrs: string[], hosts: string[] }

export interface CompanionInput {
  record: CompanionRecord
  transport: Transport
  backoff: Backoff
  log: Logger
  /** False for a new companion whose record is being written: the child waits for `saved` */
  saved: boolean
  random: () => number
}

export interface CompanionContext extends CompanionInput {
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
  | { type: 'addresses', multiaddrs: string[], hosts: string[] }

/** A companion's status as `list()` shows it */
export type CompanionState = 'online' | 'offline' | 'reconnecting'

/**
 * The status of a companion, read from its child's state and nothing else:
 * `online` exactly while the child is (between its `companion:online` and
 * `companion:offline`), `reconnecting` while it dials, `offline` otherwise
 * (also while a new companion is saved or its connection is checked: not
 * online until it said so).
 */
export function companionStatus (state: unknown): CompanionState {
  return state === 'online' || state === 'reconnecting' ? state : 'offline'
}

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
    /** The check or the dial found the peer connected */
    connected: (_, params: { connected: boolean }) => params.connected,
    addressesChanged: ({ context, event }) => event.type === 'addresses' &&
      (!sameAddresses(event.multiaddrs, context.record.multiaddrs) || event.hosts.some((h) => !context.record.hosts.includes(h)))
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
      return { type: 'companion.addresses', userDb: context.record.userDb, multiaddrs: event.multiaddrs, hosts: event.hosts }
    }),
    /** The parent's record changed (new profile or addresses) */
    setRecord: assign({
      record: ({ event }) => {
        assertEvent(event, 'record')
        return event.record
      }
    }),
    setAddresses: assign({
      record: ({ context, event }) => {
        assertEvent(event, 'addresses')
        return { ...context.record, multiaddrs: event.multiaddrs, hosts: mergeHosts(event.hosts, context.record.hosts) }
      }
    }),
    resetAttempts: assign({ attempt: 0, lastError: undefined }),
    /** A redial found it still not connected */
    countAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    /** A redial failed */
    countFailure: assign({
      attempt: ({ context }) => context.attempt + 1,
      lastError: (_, params: { error: unknown }) => params.error instanceof Error ? params.error.message : String(params.error)
    })
  }
}).createMachine({
  id: 'companion',
  context: ({ input }) => ({ ...input, attempt: 0, emitted: undefined, lastError: undefined }),
  initial: 'init',
  on: {
    record: { actions: 'setRecord' }
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
        onDone: [
          { guard: { type: 'connected', params: ({ event }) => ({ connected: event.output }) }, target: 'online' },
          { target: 'reconnecting' }
        ],
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
        addresses: { guard: 'addressesChanged', actions: ['setAddresses', 'reportAddresses'] }
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
        input: ({ context }) => ({ transport: context.transport, peerId: context.record.profile.nodeId, multiaddrs: context.record.multiaddrs, hosts: context.record.hosts }),
        onDone: [
          { guard: { type: 'connected', params: ({ event }) => ({ connected: event.output.connected }) }, target: 'online' },
          { target: 'offline', actions: 'countAttempt' }
        ],
        onError: { target: 'offline', actions: { type: 'countFailure', params: ({ event }) => ({ error: event.error }) } }
      }
    }
  }
})
