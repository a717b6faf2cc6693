import { fromBus, toError } from '@npp/bus'
import { assertEvent, assign, emit, enqueueActions, not, sendParent, setup } from 'xstate'
import {
  announce, closeDatabase, closeDatabases, closer, connectedPeers, openDatabase, openOwnDatabases, readManifests, removedStore,
  validateProfile, waitReplicated
} from './actors.js'
import { ANNOUNCE_TYPE, AnnouncementSchema, describeIssues } from './schema.js'
import type { CloseCommand, PeersListed, RemovedCommand, RemovedWritten } from './actors.js'
import type { RejectionReason, Tombstone } from './schema.js'
import type { Bus, BusEvent, CompanionProfile } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

/** Bus events discovery emits (forwarded to the bus in one place, `createDiscovery`) */
export type DiscoveryEmitted = BusEvent<'db:announced' | 'db:replicated' | 'discovery:rejected' | 'companion:discovered'>

export interface RateLimit {
  /** Announcements accepted per peer and window */
  announcements: number
  windowMs: number
}

/** Retries of our announcement to a connected peer whose `send` failed (e.g. timed out) */
export interface AnnounceRetry {
  /** Attempts in all, the first included */
  attempts: number
  /** Wait before the second attempt; it doubles for each further one */
  initialMs: number
  /** Longest wait between two attempts */
  maxMs: number
}

/** Wait before the next attempt after `failures` failed ones (1, 2, ...): `min(maxMs, initialMs * 2^(failures - 1))` */
export const announceRetryDelay = (failures: number, retry: AnnounceRetry): number =>
  Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, failures - 1))

/** Resolved options (every default applied) */
export interface DiscoveryOptions {
  maxConcurrent: number
  maxQueued: number
  replicationTimeoutMs: number
  rateLimit: RateLimit
  announceRetry: AnnounceRetry
  profile: Record<string, unknown>
}

/** Id of the child actor of a connected peer */
export const peerActorId = (peerId: string): string => `peer-${peerId}`
/** Id of the child actor that validates an announced db */
export const announcementActorId = (userDb: string): string => `db-${userDb.replace(/^\/orbitdb\//, '')}`
/** Id of the root's actor that writes the db of removed companions */
export const REMOVED_STORE_ID = 'removed-store'
/** Id of the root's actor that closes companions' dbs that were removed or replaced */
export const CLOSER_ID = 'closer'

const rejected = (from: string | undefined, userDb: string | undefined, reason: RejectionReason, detail: string): DiscoveryEmitted =>
  ({ type: 'discovery:rejected', from, userDb, reason, detail })

/** Events a child sends its parent to have them emitted on the bus */
export interface ChildEmit { type: 'child.emit', event: DiscoveryEmitted }

// ---------------------------------------------------------------------------
// One connected peer: announce ourselves once, then rate-limit its messages
// ---------------------------------------------------------------------------

export interface PeerInput {
  peerId: string
  transport: Transport
  /** Address of our own `user` db, the one we announce */
  userDb: string
  rateLimit: RateLimit
  announceRetry: AnnounceRetry
}

export interface PeerContext extends PeerInput {
  /** Messages in the current rate-limit window */
  count: number
  /** Failed attempts to send our announcement */
  failures: number
  /** Why our announcement could not be sent last (e.g. the peer does not run New Piece, Please!) */
  announceError: string | undefined
}

export type PeerEvent = { type: 'message', payload: Record<string, unknown> }

const userDbOf = (payload: Record<string, unknown>): string | undefined =>
  typeof payload.userDb === 'string' ? payload.userDb.slice(0, 200) : undefined

/**
 * A connected peer, in two parallel regions: `announcement` sends our own
 * `user` db address once (as soon as the peer is subscribed to its topic);
 * a failed send (e.g. the peer did not subscribe within the transport's
 * send timeout) is retried after `announceRetry.initialMs`, doubling up to
 * `maxMs`, for `attempts` in all. The parent stops this child when the peer
 * disconnects, which ends the retries. `limiter` passes at most
 * `rateLimit.announcements` of its messages per `rateLimit.windowMs` on to
 * the parent (fixed window that starts with the first message) after
 * checking their shape.
 */
export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    input: {} as PeerInput,
    events: {} as PeerEvent
  },
  actors: { announce },
  delays: {
    rateWindow: ({ context }) => context.rateLimit.windowMs,
    announceRetry: ({ context }) => announceRetryDelay(context.failures, context.announceRetry)
  },
  guards: {
    /** Another attempt is left after the one that just failed */
    mayRetry: ({ context }) => context.failures + 1 < context.announceRetry.attempts,
    overLimit: ({ context }) => context.count >= context.rateLimit.announcements,
    wellFormed: ({ event }) => AnnouncementSchema.safeParse(event.payload).success
  },
  actions: {
    count: assign({ count: ({ context }) => context.count + 1 }),
    recordFailure: assign(({ context }, params: { error: unknown }) => ({
      failures: context.failures + 1,
      announceError: params.error instanceof Error ? params.error.message : String(params.error)
    })),
    resetCount: assign({ count: 0 }),
    forward: sendParent(({ context, event }) => ({ type: 'peer.announcement', from: context.peerId, userDb: String(event.payload.userDb) })),
    rejectShape: sendParent(({ context, event }): ChildEmit => {
      const result = AnnouncementSchema.safeParse(event.payload)
      const detail = result.success ? 'malformed announcement' : describeIssues(result.error)
      return { type: 'child.emit', event: rejected(context.peerId, userDbOf(event.payload), 'bad-shape', detail) }
    }),
    rejectRate: sendParent(({ context, event }): ChildEmit => ({
      type: 'child.emit',
      event: rejected(context.peerId, userDbOf(event.payload), 'rate-limited',
        `more than ${context.rateLimit.announcements} announcements within ${context.rateLimit.windowMs} ms`)
    }))
  }
}).createMachine({
  id: 'peer',
  type: 'parallel',
  context: ({ input }) => ({ ...input, count: 0, failures: 0, announceError: undefined }),
  states: {
    announcement: {
      initial: 'sending',
      states: {
        sending: {
          invoke: {
            src: 'announce',
            input: ({ context }) => ({ transport: context.transport, peerId: context.peerId, userDb: context.userDb }),
            onDone: 'sent',
            onError: [
              { guard: 'mayRetry', target: 'waiting', actions: { type: 'recordFailure', params: ({ event }) => ({ error: event.error }) } },
              { target: 'failed', actions: { type: 'recordFailure', params: ({ event }) => ({ error: event.error }) } }
            ]
          }
        },
        waiting: {
          after: { announceRetry: 'sending' }
        },
        sent: {},
        /** every attempt failed: no more on this connection (the next connection starts over) */
        failed: {}
      }
    },
    limiter: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            message: [
              { guard: 'wellFormed', target: 'window', actions: ['count', 'forward'] },
              { target: 'window', actions: ['count', 'rejectShape'] }
            ]
          }
        },
        window: {
          after: { rateWindow: { target: 'idle', actions: 'resetCount' } },
          on: {
            message: [
              { guard: 'overLimit', actions: 'rejectRate' },
              { guard: 'wellFormed', actions: ['count', 'forward'] },
              { actions: ['count', 'rejectShape'] }
            ]
          }
        }
      }
    }
  }
})

// ---------------------------------------------------------------------------
// One announced db: manifest -> open -> replicate -> validate
// ---------------------------------------------------------------------------

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
  entries: number
  reason: RejectionReason | undefined
  detail: string
  profile: CompanionProfile | undefined
  multiaddrs: string[]
}

/** What an announcement child tells its parent */
export type AnnouncementReport =
  | { type: 'validation.opened', userDb: string, db: KeyValueDatabase }
  | { type: 'validation.accepted', userDb: string, from: string, db: KeyValueDatabase, profile: CompanionProfile, multiaddrs: string[] }
  | { type: 'validation.rejected', userDb: string, from: string, reason: RejectionReason, detail: string }

const errorText = (error: unknown): string => error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/**
 * The lifecycle of one announced db. `fetching` (manifest, open, replicate)
 * and `validating` are each bounded by `timeoutMs`; leaving a state aborts
 * its actor. A rejected db is closed again (bounded too).
 */
export const announcementMachine = setup({
  types: {
    context: {} as AnnouncementContext,
    input: {} as AnnouncementInput
  },
  actors: { readManifests, openDatabase, waitReplicated, validateProfile, closeDatabase },
  delays: {
    replicationTimeout: ({ context }) => context.timeoutMs,
    closeTimeout: ({ context }) => context.timeoutMs
  },
  guards: {
    hasDatabase: ({ context }) => context.db != null
  },
  actions: {
    reportAccepted: sendParent(({ context }): AnnouncementReport => ({
      type: 'validation.accepted', userDb: context.userDb, from: context.from, db: context.db!, profile: context.profile!, multiaddrs: context.multiaddrs
    })),
    reportRejected: sendParent(({ context }): AnnouncementReport => ({
      type: 'validation.rejected', userDb: context.userDb, from: context.from, reason: context.reason ?? 'invalid-profile', detail: context.detail
    }))
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
    entries: 0,
    reason: undefined,
    detail: '',
    profile: undefined,
    multiaddrs: []
  }),
  initial: 'init',
  states: {
    init: {
      always: [{ guard: 'hasDatabase', target: 'validating' }, { target: 'fetching' }]
    },
    fetching: {
      after: {
        replicationTimeout: {
          target: 'rejected',
          actions: assign({
            reason: 'not-found',
            detail: ({ context }) => `the db's manifest or entries did not arrive within ${context.timeoutMs} ms`
          })
        }
      },
      initial: 'manifest',
      states: {
        manifest: {
          invoke: {
            src: 'readManifests',
            input: ({ context }) => ({ transport: context.transport, userDb: context.userDb, log: context.log }),
            onDone: [
              { guard: ({ event }) => event.output.ok, target: 'opening' },
              {
                target: '#announcement.rejected',
                actions: assign(({ event }) => event.output.ok ? {} : { reason: event.output.reason, detail: event.output.detail })
              }
            ],
            onError: { target: '#announcement.rejected', actions: assign({ reason: 'not-found', detail: ({ event }) => errorText(event.error) }) }
          }
        },
        opening: {
          invoke: {
            src: 'openDatabase',
            input: ({ context }) => ({ transport: context.transport, userDb: context.userDb, log: context.log }),
            onDone: {
              target: 'replicating',
              actions: [
                assign({ db: ({ event }) => event.output }),
                sendParent(({ context, event }): AnnouncementReport => ({ type: 'validation.opened', userDb: context.userDb, db: event.output }))
              ]
            },
            onError: { target: '#announcement.rejected', actions: assign({ reason: 'open-failed', detail: ({ event }) => errorText(event.error) }) }
          }
        },
        replicating: {
          invoke: {
            src: 'waitReplicated',
            input: ({ context }) => ({ db: context.db!, from: context.from, log: context.log }),
            onDone: {
              target: '#announcement.validating',
              actions: [
                assign({ entries: ({ event }) => event.output.entries }),
                sendParent(({ context, event }): ChildEmit => ({
                  type: 'child.emit',
                  event: { type: 'db:replicated', from: context.from, userDb: context.userDb, entries: event.output.entries }
                }))
              ]
            },
            onError: { target: '#announcement.rejected', actions: assign({ reason: 'not-found', detail: ({ event }) => errorText(event.error) }) }
          }
        }
      }
    },
    validating: {
      after: {
        replicationTimeout: {
          target: 'rejected',
          actions: assign({
            reason: 'pieces-not-found',
            detail: ({ context }) => `the manifest of the pieces db did not arrive within ${context.timeoutMs} ms`
          })
        }
      },
      invoke: {
        src: 'validateProfile',
        input: ({ context }) => ({ transport: context.transport, db: context.db!, userDb: context.userDb, from: context.from, log: context.log }),
        onDone: [
          {
            guard: ({ event }) => event.output.ok,
            target: 'accepted',
            actions: assign(({ event }) => event.output.ok ? { profile: event.output.profile, multiaddrs: event.output.multiaddrs } : {})
          },
          {
            target: 'rejected',
            actions: assign(({ event }) => event.output.ok ? {} : { reason: event.output.reason, detail: event.output.detail })
          }
        ],
        onError: { target: 'rejected', actions: assign({ reason: 'invalid-profile', detail: ({ event }) => errorText(event.error) }) }
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

// ---------------------------------------------------------------------------
// The root: our user db, one child per peer, a bounded pool of validations
// ---------------------------------------------------------------------------

export interface DiscoveryInput {
  bus: Bus
  transport: Transport
  options: DiscoveryOptions
  log: Logger
}

interface Queued { from: string, userDb: string }

/** Most bus events kept while not running, handled once running */
export const MAX_EARLY = 256

/** Bus events kept while not running (see `keepEarly`) */
const EARLY = ['message:received', 'companion:removed'] as const
type EarlyEvent = BusEvent<typeof EARLY[number]>

export interface DiscoveryContext extends DiscoveryInput {
  /** Our own `user` db (open while running) */
  userDb: KeyValueDatabase | undefined
  /** Our db of removed companions (open while running) */
  removedDb: KeyValueDatabase<Tombstone> | undefined
  /** Peers with a child actor */
  peers: Record<string, true>
  /** Announced dbs being validated: userDb -> announcing peer */
  active: Record<string, string>
  /** Announcements waiting for a free slot, oldest first */
  queue: Queued[]
  /** Validated companions' user dbs, kept open: at most one per `nodeId` (a newer one replaces and closes the older) */
  known: Record<string, { nodeId: string, db: KeyValueDatabase }>
  /** Dbs opened by a validation still in progress (closed on stop) */
  opened: Record<string, KeyValueDatabase>
  /** Companions the user removed, by `user` db address: never validated again until `readmit` */
  removed: Record<string, { nodeId: string }>
  /** Writes sent to the `removedStore` and not yet done */
  pendingWrites: number
  /** Bus events that arrived while not running (at most {@link MAX_EARLY}), handled on entering `running` */
  early: EarlyEvent[]
  error: Error | undefined
}

export type DiscoveryEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | BusEvent<'peer:connected' | 'peer:disconnected' | 'message:received' | 'companion:removed'>
  | PeersListed
  | { type: 'peer.announcement', from: string, userDb: string }
  /** Accept again the removed companions whose `user` db address or peer id is `target` */
  | { type: 'readmit', target: string }
  | ChildEmit
  | AnnouncementReport
  | RemovedWritten

const omit = <V>(record: Record<string, V>, key: string): Record<string, V> => {
  const { [key]: _removed, ...rest } = record
  return rest
}

const removedDetail = (userDb: string): string =>
  `the user removed this companion; call discovery.readmit('${userDb}') (or with its peer id) to accept it again`

/**
 * Discovery's lifecycle: `stopped -> starting -> running -> stopping -> stopped`
 * (or `failed`). While running it spawns a {@link peerMachine} child per
 * connected peer (`peer-<peer id>`) and an {@link announcementMachine} child
 * per announced db being validated (`db-<cid>`), at most
 * `options.maxConcurrent` at a time with `options.maxQueued` waiting.
 *
 * Validated dbs stay open in `known`, one per peer: a newer db validated for
 * the same peer replaces the older, which is closed. On `companion:removed`
 * the db is closed and a tombstone is written to our own db of removed
 * companions, so the companion is not discovered again by itself (its
 * announcements are rejected as `removed`), also after a restart; a
 * `readmit` event (`discovery.readmit()`) lifts the tombstone and, if the
 * peer is connected, validates its db again at once. A `companion:removed`
 * for a db that was replaced by a newer one of the same peer writes no
 * tombstone (the companions package reports replaced companions so).
 *
 * The bus actor lives as long as the machine: announcements and
 * `companion:removed` events that arrive while not running (up to
 * {@link MAX_EARLY}) are handled as soon as it runs; the peers connected at
 * that moment are listed then (`connectedPeers`), later ones arrive as events.
 */
export const discoveryMachine = setup({
  types: {
    context: {} as DiscoveryContext,
    input: {} as DiscoveryInput,
    events: {} as DiscoveryEvent,
    emitted: {} as DiscoveryEmitted
  },
  actors: {
    bus: fromBus(['peer:connected', 'peer:disconnected', 'message:received', 'companion:removed']),
    openOwnDatabases,
    connectedPeers,
    removedStore,
    closer,
    closeDatabases,
    peer: peerMachine,
    announcement: announcementMachine
  },
  delays: {
    closeTimeout: ({ context }) => context.options.replicationTimeoutMs
  },
  guards: {
    newPeer: ({ context, event }) => event.type === 'peer:connected' && context.peers[event.peerId] == null,
    knownPeer: ({ context, event }) => event.type === 'peer:disconnected' && context.peers[event.peerId] != null,
    /** Messages with a `type` of another protocol are not ours to judge */
    otherProtocol: ({ event }) => event.type === 'message:received' && typeof event.payload.type === 'string' && event.payload.type !== ANNOUNCE_TYPE,
    fromConnectedPeer: ({ context, event }) => event.type === 'message:received' && context.peers[event.from] != null,
    noPendingWrites: ({ context }) => context.pendingWrites === 0
  },
  actions: {
    spawnPeers: enqueueActions(({ context, event, enqueue }) => {
      let ids: string[]
      if (event.type === 'peers.listed') ids = event.peers
      else if (event.type === 'peer:connected') ids = [event.peerId]
      else return
      const peers = { ...context.peers }
      for (const peerId of ids) {
        if (peers[peerId] != null) continue
        peers[peerId] = true
        enqueue.spawnChild('peer', {
          id: peerActorId(peerId),
          input: {
            peerId,
            transport: context.transport,
            userDb: context.userDb!.address,
            rateLimit: context.options.rateLimit,
            announceRetry: context.options.announceRetry
          }
        })
      }
      enqueue.assign({ peers })
    }),
    stopPeer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer:disconnected') return
      enqueue.stopChild(peerActorId(event.peerId))
      enqueue.assign({ peers: omit(context.peers, event.peerId) })
    }),
    forwardToPeer: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'message:received') return
      enqueue.sendTo(peerActorId(event.from), { type: 'message', payload: event.payload })
    }),
    rejectNotConnected: emit(({ event }) => {
      const from = event.type === 'message:received' ? event.from : undefined
      return rejected(from, undefined, 'not-connected', `${from ?? 'an unknown peer'} is not connected to us; announcements are accepted from connected peers only`)
    }),
    emitChild: emit(({ event }) => {
      assertEvent(event, 'child.emit')
      return event.event
    }),
    /** An announcement passed its peer's checks: dedupe, then validate now, queue, or drop */
    accept: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer.announcement') return
      const { from, userDb } = event
      if (userDb === context.userDb?.address) {
        enqueue.emit(rejected(from, userDb, 'own-db', 'the announced db is our own user db'))
        return
      }
      if (context.removed[userDb] != null) {
        enqueue.emit(rejected(from, userDb, 'removed', removedDetail(userDb)))
        return
      }
      const known = context.known[userDb]
      if (known != null && known.nodeId !== from) {
        enqueue.emit(rejected(from, userDb, 'node-id-mismatch', `the db belongs to ${known.nodeId}, not to ${from}`))
        return
      }
      // the same announcement is being validated or waits already: nothing to add, but said, so that
      // every announcement has an outcome. (The same db from another sender waits its turn, so that
      // nobody can shadow a peer's own announcement.)
      if (context.active[userDb] === from || context.queue.some((q) => q.userDb === userDb && q.from === from)) {
        enqueue.emit(rejected(from, userDb, 'duplicate', 'the same announcement is being validated or waits already'))
        return
      }
      if (Object.keys(context.active).length < context.options.maxConcurrent && context.active[userDb] == null) {
        enqueue.emit({ type: 'db:announced', from, userDb })
        enqueue.spawnChild('announcement', {
          id: announcementActorId(userDb),
          input: { transport: context.transport, log: context.log, from, userDb, timeoutMs: context.options.replicationTimeoutMs, db: known?.db }
        })
        enqueue.assign({ active: { ...context.active, [userDb]: from } })
      } else if (context.queue.length < context.options.maxQueued) {
        enqueue.emit({ type: 'db:announced', from, userDb })
        enqueue.assign({ queue: [...context.queue, { from, userDb }] })
      } else {
        enqueue.emit(rejected(from, userDb, 'queue-full',
          `${context.options.maxConcurrent} announcements are being validated and ${context.options.maxQueued} wait already`))
      }
    }),
    recordOpened: assign({
      opened: ({ context, event }) => event.type === 'validation.opened' ? { ...context.opened, [event.userDb]: event.db } : context.opened
    }),
    /** A validation ended: record (replacing the peer's older db) or forget the db, report it, and start queued ones */
    finishValidation: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'validation.accepted' && event.type !== 'validation.rejected') return
      const known = { ...context.known }
      if (event.type === 'validation.accepted' && context.removed[event.userDb] != null) {
        // removed by the user while it was being validated
        delete known[event.userDb]
        enqueue.sendTo(CLOSER_ID, { type: 'close', db: event.db } satisfies CloseCommand)
        enqueue.emit(rejected(event.from, event.userDb, 'removed', removedDetail(event.userDb)))
      } else if (event.type === 'validation.accepted') {
        for (const [userDb, older] of Object.entries(known)) {
          if (userDb === event.userDb || older.nodeId !== event.from) continue
          enqueue.sendTo(CLOSER_ID, { type: 'close', db: older.db } satisfies CloseCommand)
          delete known[userDb]
        }
        known[event.userDb] = { nodeId: event.from, db: event.db }
        enqueue.emit({ type: 'companion:discovered', profile: event.profile, multiaddrs: event.multiaddrs })
      } else {
        delete known[event.userDb]
        enqueue.emit(rejected(event.from, event.userDb, event.reason, event.detail))
      }
      enqueue.stopChild(announcementActorId(event.userDb))
      const active = omit(context.active, event.userDb)
      const queue: Queued[] = []
      for (const next of context.queue) {
        // oldest first; one validation per db at a time
        if (Object.keys(active).length >= context.options.maxConcurrent || active[next.userDb] != null) {
          queue.push(next)
          continue
        }
        if (context.removed[next.userDb] != null) {
          enqueue.emit(rejected(next.from, next.userDb, 'removed', removedDetail(next.userDb)))
          continue
        }
        const nextKnown = known[next.userDb]
        if (nextKnown != null && nextKnown.nodeId !== next.from) {
          enqueue.emit(rejected(next.from, next.userDb, 'node-id-mismatch', `the db belongs to ${nextKnown.nodeId}, not to ${next.from}`))
          continue
        }
        enqueue.spawnChild('announcement', {
          id: announcementActorId(next.userDb),
          input: {
            transport: context.transport, log: context.log, from: next.from, userDb: next.userDb, timeoutMs: context.options.replicationTimeoutMs, db: nextKnown?.db
          }
        })
        active[next.userDb] = next.from
      }
      enqueue.assign({ known, active, queue, opened: omit(context.opened, event.userDb) })
    }),
    /**
     * The user removed a companion: close its db and write a tombstone, unless
     * the db was replaced by a newer one of the same peer (then it is closed already).
     */
    forgetCompanion: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'companion:removed')
      const { userDb, peerId } = event
      const known = context.known[userDb]
      if (known != null) enqueue.sendTo(CLOSER_ID, { type: 'close', db: known.db } satisfies CloseCommand)
      const replaced = Object.entries(context.known).some(([other, k]) => other !== userDb && k.nodeId === peerId)
      const tombstone = !replaced && context.removed[userDb] == null
      if (tombstone) {
        enqueue.sendTo(REMOVED_STORE_ID, { type: 'put', db: context.removedDb!, userDb, nodeId: peerId } satisfies RemovedCommand)
      }
      enqueue.assign({
        known: omit(context.known, userDb),
        removed: tombstone ? { ...context.removed, [userDb]: { nodeId: peerId } } : context.removed,
        pendingWrites: context.pendingWrites + (tombstone ? 1 : 0)
      })
    }),
    /** Lift the tombstones of a `user` db or of every db of a peer; validate again at once where that peer is connected */
    readmit: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'readmit')
      const removed = { ...context.removed }
      let writes = 0
      for (const [userDb, { nodeId }] of Object.entries(context.removed)) {
        if (userDb !== event.target && nodeId !== event.target) continue
        delete removed[userDb]
        enqueue.sendTo(REMOVED_STORE_ID, { type: 'del', db: context.removedDb!, userDb } satisfies RemovedCommand)
        writes++
        if (context.peers[nodeId] != null) enqueue.raise({ type: 'peer.announcement', from: nodeId, userDb })
      }
      enqueue.assign({ removed, pendingWrites: context.pendingWrites + writes })
    }),
    written: assign({
      pendingWrites: ({ context }) => Math.max(0, context.pendingWrites - 1),
      error: ({ context, event }) => event.type === 'removed.written' && event.error != null ? event.error : context.error
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
    stopChildren: enqueueActions(({ context, enqueue }) => {
      for (const peerId of Object.keys(context.peers)) enqueue.stopChild(peerActorId(peerId))
      for (const userDb of Object.keys(context.active)) enqueue.stopChild(announcementActorId(userDb))
      enqueue.assign({ peers: {}, active: {}, queue: [] })
    }),
    reset: assign({ known: {}, opened: {}, early: [], pendingWrites: 0 })
  }
}).createMachine({
  id: 'discovery',
  context: ({ input }) => ({
    ...input,
    userDb: undefined,
    removedDb: undefined,
    peers: {},
    active: {},
    queue: [],
    known: {},
    opened: {},
    removed: {},
    pendingWrites: 0,
    early: [],
    error: undefined
  }),
  // Live as long as the actor: the bus (so that what arrives before `start()`
  // has finished is kept and handled once running), the writer of removed
  // companions (so that stopping can wait for its writes) and the closer.
  invoke: [
    { id: 'bus', src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
    { id: REMOVED_STORE_ID, src: 'removedStore', input: ({ context }) => ({ log: context.log }) },
    { id: CLOSER_ID, src: 'closer', input: ({ context }) => ({ log: context.log }) }
  ],
  on: {
    'message:received': { guard: not('otherProtocol'), actions: 'keepEarly' },
    'companion:removed': { actions: 'keepEarly' },
    'removed.written': { actions: 'written' }
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
        src: 'openOwnDatabases',
        input: ({ context }) => ({ transport: context.transport, profile: context.options.profile, log: context.log }),
        onDone: {
          target: 'running',
          actions: assign(({ event }) => ({ userDb: event.output.db, removedDb: event.output.removedDb, removed: event.output.removed }))
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toError(event.error) }) }
      }
    },
    running: {
      exit: 'stopChildren',
      // lists the peers connected now (`peers.listed`, the first event handled here)
      invoke: { id: 'connected-peers', src: 'connectedPeers', input: ({ context }) => ({ transport: context.transport, log: context.log }) },
      on: {
        stop: 'stopping',
        'peers.listed': { actions: ['spawnPeers', 'handleEarly'] },
        'peer:connected': { guard: 'newPeer', actions: 'spawnPeers' },
        'peer:disconnected': { guard: 'knownPeer', actions: 'stopPeer' },
        'message:received': [
          { guard: 'otherProtocol' },
          { guard: 'fromConnectedPeer', actions: 'forwardToPeer' },
          { actions: 'rejectNotConnected' }
        ],
        'companion:removed': { actions: 'forgetCompanion' },
        readmit: { actions: 'readmit' },
        'peer.announcement': { actions: 'accept' },
        'child.emit': { actions: 'emitChild' },
        'validation.opened': { actions: 'recordOpened' },
        'validation.accepted': { actions: 'finishValidation' },
        'validation.rejected': { actions: 'finishValidation' }
      }
    },
    stopping: {
      initial: 'flushing',
      states: {
        /** the last tombstones are written before the transport may go */
        flushing: {
          always: { guard: 'noPendingWrites', target: 'closing' },
          after: { closeTimeout: 'closing' }
        },
        closing: {
          after: { closeTimeout: { target: '#discovery.stopped', actions: 'reset' } },
          invoke: {
            src: 'closeDatabases',
            input: ({ context }) => ({ dbs: [...Object.values(context.known).map((k) => k.db), ...Object.values(context.opened)], log: context.log }),
            onDone: { target: '#discovery.stopped', actions: 'reset' },
            onError: { target: '#discovery.stopped', actions: 'reset' }
          }
        }
      }
    },
    failed: {
      on: { start: 'starting' }
    }
  }
})
