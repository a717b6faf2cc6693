import { fromBus, toError } from '@npp/bus'
import { assertEvent, assign, emit, enqueueActions, sendParent, setup } from 'xstate'
import {
  announce, closeDatabase, closeDatabases, openDatabase, openOwnUserDb, readManifests, validateProfile, waitReplicated
} from './actors.js'
import { ANNOUNCE_TYPE, AnnouncementSchema, describeIssues } from './schema.js'
import type { RejectionReason } from './schema.js'
import type { Bus, BusEvent, CompanionProfile } from '@npp/bus'
import type { KeyValueDatabase, Transport } from '@npp/transport'

/** Bus events discovery emits (forwarded to the bus in one place, `createDiscovery`) */
export type DiscoveryEmitted = BusEvent<'db:announced' | 'db:replicated' | 'discovery:rejected' | 'companion:discovered'>

export interface RateLimit {
  /** Announcements accepted per peer and window */
  announcements: number
  windowMs: number
}

/** Resolved options (every default applied) */
export interface DiscoveryOptions {
  maxConcurrent: number
  maxQueued: number
  replicationTimeoutMs: number
  rateLimit: RateLimit
  profile: Record<string, unknown>
}

/** Id of the child actor of a connected peer */
export const peerActorId = (peerId: string): string => `peer-${peerId}`
/** Id of the child actor that validates an announced db */
export const announcementActorId = (userDb: string): string => `db-${userDb.replace(/^\/orbitdb\//, '')}`

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
}

export interface PeerContext extends PeerInput {
  /** Messages in the current rate-limit window */
  count: number
  /** Why our announcement could not be sent (e.g. the peer does not run New Piece, Please!) */
  announceError: string | undefined
}

export type PeerEvent = { type: 'message', payload: Record<string, unknown> }

const userDbOf = (payload: Record<string, unknown>): string | undefined =>
  typeof payload.userDb === 'string' ? payload.userDb.slice(0, 200) : undefined

/**
 * A connected peer, in two parallel regions: `announcement` sends our own
 * `user` db address once (as soon as the peer is subscribed to its topic),
 * `limiter` passes at most `rateLimit.announcements` of its messages per
 * `rateLimit.windowMs` on to the parent (fixed window that starts with the
 * first message) after checking their shape.
 */
export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    input: {} as PeerInput,
    events: {} as PeerEvent
  },
  actors: { announce },
  delays: {
    rateWindow: ({ context }) => context.rateLimit.windowMs
  },
  guards: {
    overLimit: ({ context }) => context.count >= context.rateLimit.announcements,
    wellFormed: ({ event }) => AnnouncementSchema.safeParse(event.payload).success
  },
  actions: {
    count: assign({ count: ({ context }) => context.count + 1 }),
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
  context: ({ input }) => ({ ...input, count: 0, announceError: undefined }),
  states: {
    announcement: {
      initial: 'sending',
      states: {
        sending: {
          invoke: {
            src: 'announce',
            input: ({ context }) => ({ transport: context.transport, peerId: context.peerId, userDb: context.userDb }),
            onDone: 'sent',
            onError: { target: 'failed', actions: assign({ announceError: ({ event }) => String((event.error as Error)?.message ?? event.error) }) }
          }
        },
        sent: {},
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
  /** The verified signer of the announcement */
  from: string
  userDb: string
  timeoutMs: number
  /** Set for a db we validated before: it is re-validated without reopening */
  db?: KeyValueDatabase | undefined
}

export interface AnnouncementContext {
  transport: Transport
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
            input: ({ context }) => ({ transport: context.transport, userDb: context.userDb }),
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
            input: ({ context }) => ({ transport: context.transport, userDb: context.userDb }),
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
            input: ({ context }) => ({ db: context.db!, from: context.from }),
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
        input: ({ context }) => ({ transport: context.transport, db: context.db!, userDb: context.userDb, from: context.from }),
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
        input: ({ context }) => ({ db: context.db! }),
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
}

interface Queued { from: string, userDb: string }

export interface DiscoveryContext extends DiscoveryInput {
  /** Our own `user` db (open while running) */
  userDb: KeyValueDatabase | undefined
  /** Peers connected before we started, to be given a child on entering `running` */
  connectedAtStart: string[]
  /** Peers with a child actor */
  peers: Record<string, true>
  /** Announced dbs being validated: userDb -> announcing peer */
  active: Record<string, string>
  /** Announcements waiting for a free slot, oldest first */
  queue: Queued[]
  /** Validated companions' user dbs, kept open */
  known: Record<string, { nodeId: string, db: KeyValueDatabase }>
  /** Dbs opened by a validation still in progress (closed on stop) */
  opened: Record<string, KeyValueDatabase>
  /** Messages that arrived before we were running (at most `maxQueued`), handled on entering `running` */
  early: Array<{ from: string, payload: Record<string, unknown> }>
  error: Error | undefined
}

export type DiscoveryEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | BusEvent<'peer:connected' | 'peer:disconnected' | 'message:received'>
  | { type: 'peer.announcement', from: string, userDb: string }
  | ChildEmit
  | AnnouncementReport

const omit = <V>(record: Record<string, V>, key: string): Record<string, V> => {
  const { [key]: _removed, ...rest } = record
  return rest
}

/**
 * Discovery's lifecycle: `stopped -> starting -> running -> stopping -> stopped`
 * (or `failed`). While running it spawns a {@link peerMachine} child per
 * connected peer (`peer-<peer id>`) and an {@link announcementMachine} child
 * per announced db being validated (`db-<cid>`), at most
 * `options.maxConcurrent` at a time with `options.maxQueued` waiting.
 * The bus actor lives as long as the machine: announcements that arrive
 * before it runs (up to `maxQueued`) are handled as soon as it does.
 */
export const discoveryMachine = setup({
  types: {
    context: {} as DiscoveryContext,
    input: {} as DiscoveryInput,
    events: {} as DiscoveryEvent,
    emitted: {} as DiscoveryEmitted
  },
  actors: {
    bus: fromBus(['peer:connected', 'peer:disconnected', 'message:received']),
    openOwnUserDb,
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
    fromConnectedPeer: ({ context, event }) => event.type === 'message:received' && context.peers[event.from] != null
  },
  actions: {
    spawnConnectedPeers: enqueueActions(({ context, enqueue }) => {
      const peers = { ...context.peers }
      for (const peerId of context.connectedAtStart) {
        if (peers[peerId] != null) continue
        peers[peerId] = true
        enqueue.spawnChild('peer', {
          id: peerActorId(peerId),
          input: { peerId, transport: context.transport, userDb: context.userDb!.address, rateLimit: context.options.rateLimit }
        })
      }
      enqueue.assign({ peers, connectedAtStart: [] })
    }),
    spawnPeer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer:connected') return
      enqueue.spawnChild('peer', {
        id: peerActorId(event.peerId),
        input: { peerId: event.peerId, transport: context.transport, userDb: context.userDb!.address, rateLimit: context.options.rateLimit }
      })
      enqueue.assign({ peers: { ...context.peers, [event.peerId]: true } })
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
      const known = context.known[userDb]
      if (known != null && known.nodeId !== from) {
        enqueue.emit(rejected(from, userDb, 'node-id-mismatch', `the db belongs to ${known.nodeId}, not to ${from}`))
        return
      }
      // the same announcement is being validated or waits already: nothing to add. (The same db
      // from another sender waits its turn, so that nobody can shadow a peer's own announcement.)
      if (context.active[userDb] === from || context.queue.some((q) => q.userDb === userDb && q.from === from)) return
      if (Object.keys(context.active).length < context.options.maxConcurrent && context.active[userDb] == null) {
        enqueue.emit({ type: 'db:announced', from, userDb })
        enqueue.spawnChild('announcement', {
          id: announcementActorId(userDb),
          input: { transport: context.transport, from, userDb, timeoutMs: context.options.replicationTimeoutMs, db: known?.db }
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
    /** A validation ended: record or forget the db, report it, and start queued ones */
    finishValidation: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'validation.accepted' && event.type !== 'validation.rejected') return
      const known = { ...context.known }
      if (event.type === 'validation.accepted') {
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
        const nextKnown = known[next.userDb]
        if (nextKnown != null && nextKnown.nodeId !== next.from) {
          enqueue.emit(rejected(next.from, next.userDb, 'node-id-mismatch', `the db belongs to ${nextKnown.nodeId}, not to ${next.from}`))
          continue
        }
        enqueue.spawnChild('announcement', {
          id: announcementActorId(next.userDb),
          input: { transport: context.transport, from: next.from, userDb: next.userDb, timeoutMs: context.options.replicationTimeoutMs, db: nextKnown?.db }
        })
        active[next.userDb] = next.from
      }
      enqueue.assign({ known, active, queue, opened: omit(context.opened, event.userDb) })
    }),
    /** Keep a message that arrived while not running (e.g. a peer announced itself while we were starting) */
    keepEarly: assign({
      early: ({ context, event }) => {
        if (event.type !== 'message:received' || context.early.length >= context.options.maxQueued) return context.early
        if (typeof event.payload.type === 'string' && event.payload.type !== ANNOUNCE_TYPE) return context.early
        return [...context.early, { from: event.from, payload: event.payload }]
      }
    }),
    handleEarly: enqueueActions(({ context, enqueue }) => {
      for (const { from, payload } of context.early) enqueue.raise({ type: 'message:received', from, payload })
      enqueue.assign({ early: [] })
    }),
    stopChildren: enqueueActions(({ context, enqueue }) => {
      for (const peerId of Object.keys(context.peers)) enqueue.stopChild(peerActorId(peerId))
      for (const userDb of Object.keys(context.active)) enqueue.stopChild(announcementActorId(userDb))
      enqueue.assign({ peers: {}, active: {}, queue: [] })
    })
  }
}).createMachine({
  id: 'discovery',
  context: ({ input }) => ({
    ...input,
    userDb: undefined,
    connectedAtStart: [],
    peers: {},
    active: {},
    queue: [],
    known: {},
    opened: {},
    early: [],
    error: undefined
  }),
  // Subscribed for the actor's whole life, so that an announcement that arrives
  // before `start()` has finished is kept and handled once running.
  invoke: { id: 'bus', src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
  on: {
    'message:received': { actions: 'keepEarly' }
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
        src: 'openOwnUserDb',
        input: ({ context }) => ({ transport: context.transport, profile: context.options.profile }),
        onDone: {
          target: 'running',
          actions: assign({ userDb: ({ event }) => event.output.db, connectedAtStart: ({ event }) => event.output.connected })
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toError(event.error) }) }
      }
    },
    running: {
      entry: ['spawnConnectedPeers', 'handleEarly'],
      exit: 'stopChildren',
      on: {
        stop: 'stopping',
        'peer:connected': { guard: 'newPeer', actions: 'spawnPeer' },
        'peer:disconnected': { guard: 'knownPeer', actions: 'stopPeer' },
        'message:received': [
          { guard: 'otherProtocol' },
          { guard: 'fromConnectedPeer', actions: 'forwardToPeer' },
          { actions: 'rejectNotConnected' }
        ],
        'peer.announcement': { actions: 'accept' },
        'child.emit': { actions: 'emitChild' },
        'validation.opened': { actions: 'recordOpened' },
        'validation.accepted': { actions: 'finishValidation' },
        'validation.rejected': { actions: 'finishValidation' }
      }
    },
    stopping: {
      after: { closeTimeout: { target: 'stopped', actions: assign({ known: {}, opened: {}, early: [] }) } },
      invoke: {
        src: 'closeDatabases',
        input: ({ context }) => ({ dbs: [...Object.values(context.known).map((k) => k.db), ...Object.values(context.opened)] }),
        onDone: { target: 'stopped', actions: assign({ known: {}, opened: {}, early: [] }) },
        onError: { target: 'stopped', actions: assign({ known: {}, opened: {}, early: [] }) }
      }
    },
    failed: {
      on: { start: 'starting' }
    }
  }
})
