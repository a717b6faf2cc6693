import { and, assign, not, sendParent, setup, stateIn } from 'xstate'
import { closeDatabase, openDatabase, probeServed, readManifests, validateProfile, waitReplicated } from './announcement.actors.js'
import type { ValidateOutput, Verdict } from './announcement.actors.js'
import type { AnnouncementReport, ChildEmit } from './events.js'
import type { RejectionReason } from './schema.js'
import type { CompanionProfile } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

export interface AnnouncementInput {
  transport: Transport
  log: Logger
  /** The verified signer of the announcement */
  from: string
  userDb: string
  timeoutMs: number
  /** Set for a db we validated before: it is re-validated without reopening */
  db?: KeyValueDatabase | undefined
}

export interface AnnouncementContext {
  transport: Transport
  log: Logger
  from: string
  userDb: string
  timeoutMs: number
  db: KeyValueDatabase | undefined
  /** The announcer has the db open (subscribed to its topic, or identify lists its heads protocol) */
  served: boolean
  entries: number
  reason: RejectionReason | undefined
  detail: string
  profile: CompanionProfile | undefined
  multiaddrs: string[]
}

/** Id of the child actor that validates an announced db */
export const announcementActorId = (userDb: string): string => `db-${userDb.replace(/^\/orbitdb\//, '')}`

/**
 * Reasons that say the machine was too slow, not what the db is. `open-failed`
 * too: it comes after the manifests were read and passed (a KeyValue db with
 * an owner-only `IPFSAccessController`, both blocks local), so what is left to
 * fail is ours, e.g. OrbitDB opening the db while an earlier attempt's open or
 * close of the same db (abandoned at its timeout) still holds its storage.
 */
const TRANSIENT: ReadonlySet<RejectionReason> = new Set(['replication-timeout', 'pieces-not-found', 'open-failed'])

const errorText = (error: unknown): string => error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/**
 * The lifecycle of one announced db: `probing` (does the announcer serve it?),
 * then `fetching` (manifests, open, replicate) and `validating`, each bounded
 * by `timeoutMs`; leaving a state aborts its actor. A rejected db is closed
 * again (bounded too). The report says whether the rejection was transient
 * (too slow, not wrong), so the root can retry it.
 */
export const announcementMachine = setup({
  types: {
    context: {} as AnnouncementContext,
    input: {} as AnnouncementInput
  },
  actors: { probeServed, readManifests, openDatabase, waitReplicated, validateProfile, closeDatabase },
  delays: {
    replicationTimeout: ({ context }) => context.timeoutMs,
    closeTimeout: ({ context }) => context.timeoutMs
  },
  guards: {
    hasDatabase: ({ context }) => context.db != null,
    passed: (_, params: { output: Verdict | ValidateOutput }) => params.output.ok,
    /** Still waiting for the manifest of a db that nobody is known to serve: it may not exist */
    manifestNowhere: and([stateIn('#announcement.fetching.manifest'), not('served')]),
    served: ({ context }) => context.served
  },
  actions: {
    recordServed: assign({ served: (_, params: { served: boolean }) => params.served }),
    recordVerdict: assign((_, params: { output: Verdict | ValidateOutput }) => params.output.ok ? {} : { reason: params.output.reason, detail: params.output.detail }),
    recordError: assign((_, params: { reason: RejectionReason, error: unknown }) => ({ reason: params.reason, detail: errorText(params.error) })),
    recordTimeout: assign((_, params: { reason: RejectionReason, detail: string }) => params),
    recordOpened: assign({ db: (_, params: { db: KeyValueDatabase }) => params.db }),
    recordProfile: assign((_, params: { output: ValidateOutput }) => params.output.ok ? { profile: params.output.profile, multiaddrs: params.output.multiaddrs } : {}),
    recordEntries: assign({ entries: (_, params: { entries: number }) => params.entries }),
    reportOpened: sendParent(({ context }, params: { db: KeyValueDatabase }): AnnouncementReport => ({ type: 'validation.opened', userDb: context.userDb, db: params.db })),
    emitReplicated: sendParent(({ context }, params: { entries: number }): ChildEmit => ({
      type: 'child.emit',
      event: { type: 'db:replicated', from: context.from, userDb: context.userDb, entries: params.entries }
    })),
    reportAccepted: sendParent(({ context }): AnnouncementReport => ({
      type: 'validation.accepted', userDb: context.userDb, from: context.from, db: context.db!, profile: context.profile!, multiaddrs: context.multiaddrs
    })),
    reportRejected: sendParent(({ context }): AnnouncementReport => {
      const reason = context.reason ?? 'invalid-profile'
      return {
        type: 'validation.rejected',
        userDb: context.userDb,
        from: context.from,
        reason,
        detail: context.detail,
        transient: TRANSIENT.has(reason)
      }
    })
  }
}).createMachine({
  id: 'announcement',
  context: ({ input }) => ({
    transport: input.transport,
    log: input.log,
    from: input.from,
    userDb: input.userDb,
    timeoutMs: input.timeoutMs,
    db: input.db,
    served: false,
    entries: 0,
    reason: undefined,
    detail: '',
    profile: undefined,
    multiaddrs: []
  }),
  initial: 'probing',
  states: {
    probing: {
      invoke: {
        src: 'probeServed',
        input: ({ context }) => ({ transport: context.transport, userDb: context.userDb, from: context.from, log: context.log }),
        onDone: { target: 'routing', actions: { type: 'recordServed', params: ({ event }) => ({ served: event.output }) } },
        onError: 'routing'
      }
    },
    routing: {
      always: [{ guard: 'hasDatabase', target: 'validating' }, { target: 'fetching' }]
    },
    fetching: {
      after: {
        replicationTimeout: [
          {
            guard: 'manifestNowhere',
            target: 'rejected',
            actions: { type: 'recordTimeout', params: ({ context }) => ({ reason: 'not-found' as const, detail: `the db's manifest did not arrive within ${context.timeoutMs} ms, and its announcer does not have it open` }) }
          },
          {
            target: 'rejected',
            actions: { type: 'recordTimeout', params: ({ context }) => ({ reason: 'replication-timeout' as const, detail: `the db (open at its announcer) did not arrive within ${context.timeoutMs} ms` }) }
          }
        ]
      },
      initial: 'manifest',
      states: {
        manifest: {
          invoke: {
            src: 'readManifests',
            input: ({ context }) => ({ transport: context.transport, userDb: context.userDb, from: context.from, log: context.log }),
            onDone: [
              { guard: { type: 'passed', params: ({ event }) => ({ output: event.output }) }, target: 'opening' },
              { target: '#announcement.rejected', actions: { type: 'recordVerdict', params: ({ event }) => ({ output: event.output }) } }
            ],
            onError: { target: '#announcement.rejected', actions: { type: 'recordError', params: ({ event }) => ({ reason: 'not-found' as const, error: event.error }) } }
          }
        },
        opening: {
          invoke: {
            src: 'openDatabase',
            input: ({ context }) => ({ transport: context.transport, userDb: context.userDb, from: context.from, log: context.log }),
            onDone: {
              target: 'replicating',
              actions: [
                { type: 'recordOpened', params: ({ event }) => ({ db: event.output }) },
                { type: 'reportOpened', params: ({ event }) => ({ db: event.output }) }
              ]
            },
            onError: { target: '#announcement.rejected', actions: { type: 'recordError', params: ({ event }) => ({ reason: 'open-failed' as const, error: event.error }) } }
          }
        },
        replicating: {
          invoke: {
            src: 'waitReplicated',
            input: ({ context }) => ({ transport: context.transport, db: context.db!, from: context.from, log: context.log }),
            onDone: {
              target: '#announcement.validating',
              actions: [
                { type: 'recordEntries', params: ({ event }) => ({ entries: event.output.entries }) },
                { type: 'emitReplicated', params: ({ event }) => ({ entries: event.output.entries }) }
              ]
            },
            onError: { target: '#announcement.rejected', actions: { type: 'recordError', params: ({ event }) => ({ reason: 'replication-timeout' as const, error: event.error }) } }
          }
        }
      }
    },
    validating: {
      after: {
        replicationTimeout: {
          target: 'rejected',
          actions: { type: 'recordTimeout', params: ({ context }) => ({ reason: 'pieces-not-found' as const, detail: `the manifests of the pieces db did not arrive within ${context.timeoutMs} ms` }) }
        }
      },
      invoke: {
        src: 'validateProfile',
        input: ({ context }) => ({ transport: context.transport, db: context.db!, userDb: context.userDb, from: context.from, log: context.log }),
        onDone: [
          {
            guard: { type: 'passed', params: ({ event }) => ({ output: event.output }) },
            target: 'accepted',
            actions: { type: 'recordProfile', params: ({ event }) => ({ output: event.output }) }
          },
          { target: 'rejected', actions: { type: 'recordVerdict', params: ({ event }) => ({ output: event.output }) } }
        ],
        onError: { target: 'rejected', actions: { type: 'recordError', params: ({ event }) => ({ reason: 'invalid-profile' as const, error: event.error }) } }
      }
    },
    accepted: {
      type: 'final',
      entry: 'reportAccepted'
    },
    rejected: {
      always: [{ guard: 'hasDatabase', target: 'closing' }, { target: 'done' }]
    },
    closing: {
      after: { closeTimeout: 'done' },
      invoke: {
        src: 'closeDatabase',
        input: ({ context }) => ({ db: context.db!, log: context.log }),
        onDone: 'done',
        onError: 'done'
      }
    },
    done: {
      type: 'final',
      entry: 'reportRejected'
    }
  }
})
