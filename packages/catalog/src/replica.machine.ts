/**
 * One companion's replicated catalog (`replica-<peer id>`): opens the
 * companion's pieces db, keeps it replicated and its index up to date, and
 * opens it again after a failure (with backoff while the companion is
 * online, and at once when it comes online).
 */
import { toError } from '@npp/bus'
import { backoffDelay } from '@npp/kit'
import { assign, sendParent, setup } from 'xstate'
import { failureReason } from './errors.js'
import { closeReplica, followReplica, openReplica, stopReplicaSync } from './replica.actors.js'
import type { ReplicaCounts, ReplicaFollowerEvent } from './replica.actors.js'
import type { ReplicaStore } from './stores.js'
import type { ReplicaOptions } from './types.js'
import type { CompanionProfile, SyncProgress } from '@npp/bus'
import type { Logger, Transport } from '@npp/transport'
import type { ActorRefFrom } from 'xstate'

export interface ReplicaInput {
  profile: CompanionProfile
  transport: Transport
  log: Logger
  /** Whether the companion is online now; the catalog sends `online`/`offline` as it changes */
  online: boolean
  options: ReplicaOptions
}

export interface ReplicaContext extends ReplicaInput {
  store: ReplicaStore | undefined
  size: number
  invalid: number
  /** Log entries applied to the index, as the follower counts them (quota `options.maxEntries`) */
  entries: number
  /** Their encoded size in bytes, as the follower counts it (quota `options.maxBytes`) */
  bytes: number
  /** Entries the companion's log has as far as the follower knows (more than `entries` while syncing) */
  known: number
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
  | ReplicaFollowerEvent

/** What a replica reports to its parent (the catalog, which emits `catalog:replicated`) */
export interface ReplicaReport {
  type: 'replica.updated'
  userDb: string
  peerId: string
  username: string
  pieces: number
  invalid: number
}

/** How far a replica's sync is (the catalog emits `catalog:syncing`) */
export interface ReplicaProgress {
  type: 'replica.progress'
  userDb: string
  peerId: string
  username: string
  /** Log entries in the index */
  done: number
  /** Log entries the companion's log has as far as we know (never above the replica's entry quota) */
  known: number
}

/** A replica's progress: entries done, and known (capped at the entry quota: a writer chooses its clock) */
export function replicaProgress (context: Pick<ReplicaContext, 'entries' | 'known' | 'options'>): SyncProgress {
  return { done: context.entries, known: Math.max(context.entries, Math.min(context.known, context.options.maxEntries)) }
}

/**
 * Failures that opening the same address again cannot fix (a new address in
 * the companion's profile replaces the replica instead)
 */
export const PERMANENT_REPLICA_FAILURES: readonly string[] = ['invalid-address', 'invalid-manifest', 'not-a-catalog']

const retryable = (context: ReplicaContext): boolean => !PERMANENT_REPLICA_FAILURES.includes(context.reason ?? '')

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** The quotas that `counts` passes, each said with its numbers and the option that raises it (none: within quota) */
export function passedQuotas (counts: Pick<ReplicaCounts, 'entries' | 'bytes'>, options: Pick<ReplicaOptions, 'maxEntries' | 'maxBytes'>): Array<{ option: string, what: string }> {
  const passed: Array<{ option: string, what: string }> = []
  if (counts.entries > options.maxEntries) {
    passed.push({ option: 'replicas.maxEntries', what: `${counts.entries} log entries, more than the ${options.maxEntries} kept per companion` })
  }
  if (counts.bytes > options.maxBytes) {
    passed.push({ option: 'replicas.maxBytes', what: `${counts.bytes} bytes (${mib(counts.bytes)}) of log entries, more than the ${options.maxBytes} bytes (${mib(options.maxBytes)}) kept per companion` })
  }
  return passed
}

export const replicaMachine = setup({
  types: {
    context: {} as ReplicaContext,
    input: {} as ReplicaInput,
    events: {} as ReplicaMachineEvent
  },
  actors: { openReplica, followReplica, closeReplica, stopReplicaSync },
  actions: {
    setOnline: assign({ online: true }),
    setOffline: assign({ online: false }),
    keepStore: assign((_, store: ReplicaStore) => ({ store })),
    forgetStore: assign({ store: undefined }),
    /** An attempt failed: why, and one more failed attempt */
    recordFailure: assign(({ context }, failure: { reason: string, error: Error }) => ({ ...failure, attempts: context.attempts + 1 })),
    /** Past its quota (the counts are kept first): which limit, said with the numbers and the option to raise */
    recordOverQuota: assign(({ context }) => {
      const passed = passedQuotas(context, context.options)
      const has = passed.map((p) => p.what).join(', and ')
      const raise = passed.map((p) => p.option).join(' and ')
      return { reason: 'over-quota', error: new Error(`${context.profile.username}'s catalog has ${has}; it stopped syncing and answers from what it has (raise catalog option ${raise} to keep more)`) }
    }),
    /** Ready: the failures are over */
    clearFailures: assign({ attempts: 0, reason: undefined, error: undefined }),
    /** Keep the counts the follower reported */
    counts: assign(({ event }) => 'size' in event ? { size: event.size, invalid: event.invalid, entries: event.entries, bytes: event.bytes, known: event.known } : {}),
    /** Tell the catalog how far the sync is */
    reportProgress: sendParent(({ context }): ReplicaProgress => ({
      type: 'replica.progress',
      userDb: context.profile.userDb,
      peerId: context.profile.nodeId,
      username: context.profile.username,
      ...replicaProgress(context)
    })),
    /** Tell the catalog what the replica holds */
    report: sendParent(({ context }): ReplicaReport => ({
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
    /** Past `options.maxEntries` or `options.maxBytes` */
    overQuota: ({ context, event }) => 'entries' in event && passedQuotas(event, context.options).length > 0,
    retryable: ({ context }) => retryable(context),
    retryNow: ({ context }) => context.online && retryable(context)
  },
  delays: {
    /** Exponential backoff: retryInitialMs, twice that, ... at most retryMaxMs */
    retryDelay: ({ context }) => backoffDelay(context.attempts - 1, { initialMs: context.options.retryInitialMs, maxMs: context.options.retryMaxMs })
  }
}).createMachine({
  id: 'replica',
  context: ({ input }) => ({ ...input, store: undefined, size: 0, invalid: 0, entries: 0, bytes: 0, known: 0, reason: undefined, error: undefined, attempts: 0 }),
  initial: 'opening',
  on: {
    online: { actions: 'setOnline' },
    offline: { actions: 'setOffline' }
  },
  states: {
    opening: {
      invoke: {
        src: 'openReplica',
        input: ({ context }) => ({ transport: context.transport, address: context.profile.pieces, owner: context.profile.nodeId, timeoutMs: context.options.openTimeoutMs, log: context.log }),
        onDone: { target: 'open', actions: { type: 'keepStore', params: ({ event }) => event.output } },
        onError: {
          target: 'failed',
          actions: { type: 'recordFailure', params: ({ event }) => ({ reason: failureReason(event.error), error: toError(event.error) }) }
        }
      },
      on: { close: 'closed' }
    },
    open: {
      invoke: { src: 'followReplica', input: ({ context }) => ({ store: context.store! }) },
      initial: 'loading',
      on: {
        close: 'closing',
        'replica.changed': [
          { guard: 'overQuota', target: '.overQuota', actions: ['counts', 'reportProgress', 'recordOverQuota'] },
          { actions: ['counts', 'reportProgress'] }
        ],
        'replica.error': {
          target: 'failed',
          actions: { type: 'recordFailure', params: ({ event }) => ({ reason: 'replication-error', error: event.error }) }
        }
      },
      states: {
        loading: {
          on: {
            'replica.loaded': [
              { guard: 'overQuota', target: 'overQuota', actions: ['counts', 'reportProgress', 'recordOverQuota'] },
              { guard: 'hasData', target: 'ready', actions: ['counts', 'reportProgress'] },
              { target: 'waiting', actions: ['counts', 'reportProgress'] }
            ]
          }
        },
        /** Nothing stored locally yet: wait for the first sync with a peer that has the db */
        waiting: {
          on: {
            'replica.synced': [
              { guard: 'overQuota', target: 'overQuota', actions: ['counts', 'reportProgress', 'recordOverQuota'] },
              { target: 'ready', actions: ['counts', 'reportProgress'] }
            ]
          }
        },
        /** Queries are answered from the index */
        ready: {
          entry: ['report', 'clearFailures'],
          on: {
            'replica.changed': [
              { guard: 'overQuota', target: 'overQuota', actions: ['counts', 'reportProgress', 'recordOverQuota'] },
              { actions: ['counts', 'reportProgress', 'report'] }
            ],
            'replica.synced': [
              { guard: 'overQuota', target: 'overQuota', actions: ['counts', 'reportProgress', 'recordOverQuota'] },
              { actions: ['counts', 'reportProgress', 'report'] }
            ]
          }
        },
        /**
         * Past `options.maxEntries` or `options.maxBytes`: no more syncing (nothing more is fetched or stored), and
         * queries are answered from what the index holds. Stays so until the replica is closed.
         */
        overQuota: {
          entry: 'report',
          invoke: { src: 'stopReplicaSync', input: ({ context }) => ({ store: context.store! }) },
          on: {
            'replica.changed': { actions: ['counts', 'reportProgress'] },
            'replica.synced': { actions: ['counts', 'reportProgress'] }
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
        online: { guard: 'retryable', target: 'retrying', actions: 'setOnline' },
        retry: { guard: 'retryable', target: 'retrying' }
      }
    },
    /** Close what a failed attempt left open, then open again */
    retrying: {
      invoke: {
        src: 'closeReplica',
        input: ({ context }) => ({ store: context.store }),
        onDone: { target: 'opening', actions: 'forgetStore' },
        onError: { target: 'opening', actions: 'forgetStore' }
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
