import { fromBus, toError } from '@npp/bus'
import { keepEarly, omit } from '@npp/kit'
import { assertEvent, assign, emit, enqueueActions, not, setup } from 'xstate'
import { admit, drain, removedDetail, retryTimerId } from './admission.js'
import { announcementActorId, announcementMachine } from './announcement.machine.js'
import { NOT_ACCEPTING_DETAIL, checkInvite, consentTo, judgeValidated, splitPending } from './consent.js'
import { CLOSER_ID, INVITE_WRITER_ID, REMOVED_STORE_ID, consentState, initialContext, saveInvites, validationInput } from './discovery.context.js'
import { closeDatabases, closer, connectedPeers, inviteWriter, openOwnDatabases, removedStore } from './discovery.actors.js'
import { rejected } from './events.js'
import { peerActorId, peerMachine } from './peer.machine.js'
import { retryOrReject } from './retries.js'
import { ANNOUNCE_TYPE } from './schema.js'
import type { Queued } from './admission.js'
import type { DiscoveryContext, DiscoveryEvent, DiscoveryInput, EarlyEvent } from './discovery.context.js'
import type { IssuedInvite } from './consent.js'
import type { CloseCommand, RemovedCommand } from './discovery.actors.js'
import type { DiscoveryEmitted } from './events.js'
import type { KeyValueDatabase } from '@npp/transport'
import type { Tombstone } from './schema.js'

export type { DiscoveryContext, DiscoveryEvent, DiscoveryInput, KnownCompanions } from './discovery.context.js'

/**
 * Discovery's lifecycle: `stopped -> starting -> running -> stopping -> stopped`
 * (or `failed`). While running it spawns a {@link peerMachine} child per
 * connected peer (`peer-<peer id>`) and an {@link announcementMachine} child
 * per announced db being validated (`db-<cid>`), at most
 * `options.maxConcurrent` at a time with `options.maxQueued` waiting.
 *
 * An announcement that failed for load or time (its manifest or heads did
 * not arrive in time, or the queue was full) is retried with backoff
 * (`options.validationRetry`) while its sender is connected, with a
 * `discovery:retrying` event each time; one that failed for what the db is
 * ends in `discovery:rejected`.
 *
 * Validated dbs stay open in `known` until `companion:removed` (the
 * companions package keeps one record per peer and reports the ones it
 * replaces so). On `companion:removed` the db is closed and, unless a newer
 * db of the same peer replaced it, a tombstone is written to our own db of
 * removed companions, so the companion is not discovered again by itself
 * (its announcements are rejected as `removed`), also after a restart; a
 * `readmit` event lifts the tombstone and, if the peer is connected,
 * validates its db again at once.
 *
 * The bus actor lives as long as the machine: announcements and
 * `companion:removed` events that arrive while not running are kept and
 * handled as soon as it runs; the peers connected at that moment are listed
 * then (`connectedPeers`), later ones arrive as events.
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
    inviteWriter,
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
    /** The retry is still wanted (its sender did not disconnect meanwhile) */
    retryWanted: ({ context, event }) => event.type === 'retry.due' && context.retrying[event.key] != null,
    noPendingWrites: ({ context }) => context.pendingWrites === 0,
    /** Policy `none` and not a companion: refused before anything is opened */
    notAccepting: ({ context, event }) => event.type === 'peer.announcement' && consentTo(consentState(context), event.from, event.userDb) === 'refuse'
  },
  actions: {
    recordStarted: assign((_, params: { userDb: string, removedDb: KeyValueDatabase<Tombstone>, removed: Record<string, Tombstone>, invites: Record<string, IssuedInvite> }) => ({ ...params, error: undefined })),
    recordError: assign({ error: (_, params: { error: unknown }) => toError(params.error) }),
    clearError: assign({ error: undefined }),
    spawnPeers: enqueueActions(({ context, event, enqueue }) => {
      const ids = event.type === 'peers.listed' ? event.peers : event.type === 'peer:connected' ? [event.peerId] : []
      const peers = { ...context.peers }
      for (const peerId of ids) {
        if (peers[peerId] != null) continue
        peers[peerId] = true
        enqueue.spawnChild('peer', {
          id: peerActorId(peerId),
          input: {
            peerId,
            transport: context.transport,
            userDb: context.userDb!,
            rateLimit: context.options.rateLimit,
            announceRetry: context.options.announceRetry,
            ...(context.proofs[peerId] == null ? {} : { invite: context.proofs[peerId] })
          }
        })
      }
      enqueue.assign({ peers })
    }),
    /** The peer is gone: its actor stops (no more announcing to it), its retries end with their last reason */
    stopPeer: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'peer:disconnected')
      enqueue.stopChild(peerActorId(event.peerId))
      const retrying = { ...context.retrying }
      for (const [key, pending] of Object.entries(context.retrying)) {
        if (pending.from !== event.peerId) continue
        enqueue.cancel(retryTimerId(key))
        enqueue.emit(rejected(pending.from, pending.userDb, pending.reason, `${pending.detail} (not retried: the sender disconnected)`))
        delete retrying[key]
      }
      enqueue.assign({ peers: omit(context.peers, event.peerId), retrying })
    }),
    forwardToPeer: enqueueActions(({ event, enqueue }) => {
      assertEvent(event, 'message:received')
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
    /** An announcement passed its peer's checks (or a retry is due): refuse, validate now, queue, or retry later */
    accept: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'peer.announcement')
      const announcement: Queued = { from: event.from, userDb: event.userDb, attempt: event.attempt ?? 0 }
      const retrying = { ...context.retrying }
      if (event.invite != null && context.consented[event.from] == null) {
        const check = checkInvite(context.invites, event.invite, context.transport.peerId, event.from)
        if (check.ok) {
          const invite = context.invites[event.invite.id]!
          const invites = invite.usesLeft > 1 ? { ...context.invites, [invite.id]: { ...invite, usesLeft: invite.usesLeft - 1 } } : omit(context.invites, invite.id)
          enqueue.assign({
            consented: { ...context.consented, [event.from]: true },
            invites,
            inviteProblems: omit(context.inviteProblems, event.from),
            ...saveInvites(context, invites, (command) => { enqueue.sendTo(INVITE_WRITER_ID, command) })
          })
        } else {
          enqueue.assign({ inviteProblems: { ...context.inviteProblems, [event.from]: check.problem } })
        }
      }
      const admission = admit(context, announcement)
      if (admission.kind === 'reject') {
        enqueue.emit(rejected(announcement.from, announcement.userDb, admission.reason, admission.detail))
      } else if (admission.kind === 'full') {
        const plan = retryOrReject(context, announcement, 'queue-full', admission.detail)
        enqueue.emit(plan.event)
        if (plan.retry) {
          enqueue.raise(plan.due, { id: plan.id, delay: plan.delay })
          retrying[plan.key] = plan.queued
        }
      } else {
        if (announcement.attempt === 0) enqueue.emit({ type: 'db:announced', from: announcement.from, userDb: announcement.userDb })
        if (admission.kind === 'start') {
          enqueue.spawnChild('announcement', { id: announcementActorId(announcement.userDb), input: validationInput(context, announcement, admission.known) })
          enqueue.assign({ active: { ...context.active, [announcement.userDb]: announcement } })
        } else {
          enqueue.assign({ queue: [...context.queue, announcement] })
        }
      }
      enqueue.assign({ retrying })
    }),
    retryDue: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'retry.due')
      const due = context.retrying[event.key]!
      enqueue.assign({ retrying: omit(context.retrying, event.key) })
      enqueue.raise({ type: 'peer.announcement', from: due.from, userDb: due.userDb, attempt: due.attempt })
    }),
    recordOpened: assign({
      opened: ({ context, event }) => event.type === 'validation.opened' ? { ...context.opened, [event.userDb]: event.db } : context.opened
    }),
    /** A validation ended: record or forget the db, report it (or retry it), and start queued ones */
    finishValidation: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'validation.accepted' && event.type !== 'validation.rejected') return
      const known = { ...context.known }
      const retrying = { ...context.retrying }
      const ended = context.active[event.userDb] ?? { from: event.from, userDb: event.userDb, attempt: 0 }
      if (event.type === 'validation.accepted' && context.removed[event.userDb] != null) {
        // removed by the user while it was being validated
        delete known[event.userDb]
        enqueue.sendTo(CLOSER_ID, { type: 'close', db: event.db } satisfies CloseCommand)
        enqueue.emit(rejected(event.from, event.userDb, 'removed', removedDetail(event.userDb)))
      } else if (event.type === 'validation.accepted') {
        const verdict = judgeValidated(consentState(context), { peerId: event.from, userDb: event.userDb, profile: event.profile, multiaddrs: event.multiaddrs })
        if (verdict.kind === 'admit') {
          known[event.userDb] = { nodeId: event.from, db: event.db }
          enqueue.emit({ type: 'companion:discovered', profile: event.profile, multiaddrs: event.multiaddrs })
        } else {
          // nothing stays open for a peer that is not admitted
          delete known[event.userDb]
          enqueue.sendTo(CLOSER_ID, { type: 'close', db: event.db } satisfies CloseCommand)
          if (verdict.kind === 'refuse') {
            enqueue.emit(rejected(event.from, event.userDb, verdict.reason, verdict.detail))
          } else {
            const { entry } = verdict
            enqueue.assign({ pending: verdict.pending })
            enqueue.emit({ type: 'companion:pending', peerId: entry.peerId, userDb: entry.userDb, profile: entry.profile, ...(entry.inviteProblem == null ? {} : { inviteProblem: entry.inviteProblem }) })
            for (const d of verdict.dropped) enqueue.emit({ type: 'companion:declined', peerId: d.peerId, userDb: d.userDb, reason: 'dropped' })
          }
        }
      } else {
        delete known[event.userDb]
        const plan = event.transient ? retryOrReject(context, ended, event.reason, event.detail) : undefined
        enqueue.emit(plan?.event ?? rejected(event.from, event.userDb, event.reason, event.detail))
        if (plan?.retry === true) {
          enqueue.raise(plan.due, { id: plan.id, delay: plan.delay })
          retrying[plan.key] = plan.queued
        }
      }
      enqueue.stopChild(announcementActorId(event.userDb))
      const active = omit(context.active, event.userDb)
      const next = drain({ ...context, known, active })
      for (const refused of next.refuse) enqueue.emit(rejected(refused.from, refused.userDb, refused.reason, refused.detail))
      for (const started of next.start) {
        enqueue.spawnChild('announcement', { id: announcementActorId(started.userDb), input: validationInput(context, started, started.known) })
        active[started.userDb] = { from: started.from, userDb: started.userDb, attempt: started.attempt }
      }
      enqueue.assign({ known, active, retrying, queue: next.queue, opened: omit(context.opened, event.userDb) })
    }),
    /**
     * The user removed a companion (or companions replaced it by a newer db of the same
     * peer): close its db, and write a tombstone unless it was replaced.
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
    /** The user dials a peer (optionally presenting its invite): it may become a companion, also if it waits already */
    consentDial: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'consent.dial')
      enqueue.assign({
        consented: { ...context.consented, [event.peerId]: true },
        proofs: event.proof == null ? context.proofs : { ...context.proofs, [event.peerId]: event.proof }
      })
      if (event.proof != null && context.peers[event.peerId] != null) enqueue.sendTo(peerActorId(event.peerId), { type: 'invite', invite: event.proof })
      enqueue.raise({ type: 'consent.accept', target: event.peerId })
    }),
    /** Pending peers the user accepted: consented, and validated again at once where connected */
    consentAccept: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'consent.accept')
      const { matched, rest } = splitPending(context.pending, event.target)
      const consented = { ...context.consented }
      for (const p of matched) {
        consented[p.peerId] = true
        if (context.peers[p.peerId] != null) enqueue.raise({ type: 'peer.announcement', from: p.peerId, userDb: p.userDb })
      }
      enqueue.assign({ consented, pending: rest })
    }),
    /** Pending peers the user declined: remembered as removed (`readmit` takes them back) */
    consentDecline: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'consent.decline')
      const { matched: declined, rest } = splitPending(context.pending, event.target)
      const removed = { ...context.removed }
      for (const p of declined) {
        removed[p.userDb] = { nodeId: p.peerId }
        enqueue.sendTo(REMOVED_STORE_ID, { type: 'put', db: context.removedDb!, userDb: p.userDb, nodeId: p.peerId } satisfies RemovedCommand)
        enqueue.emit({ type: 'companion:declined', peerId: p.peerId, userDb: p.userDb, reason: 'declined' })
      }
      enqueue.assign({
        removed,
        pending: rest,
        pendingWrites: context.pendingWrites + declined.length
      })
    }),
    issueInvite: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'invite.issue')
      const invites = { ...context.invites, [event.invite.id]: event.invite }
      enqueue.assign({ invites, ...saveInvites(context, invites, (command) => { enqueue.sendTo(INVITE_WRITER_ID, command) }) })
    }),
    revokeInvite: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'invite.revoke')
      const invites = omit(context.invites, event.id)
      enqueue.assign({ invites, ...saveInvites(context, invites, (command) => { enqueue.sendTo(INVITE_WRITER_ID, command) }) })
    }),
    rejectNotAccepting: emit(({ event }) => {
      assertEvent(event, 'peer.announcement')
      return rejected(event.from, event.userDb, 'not-accepting', NOT_ACCEPTING_DETAIL)
    }),
    written: assign({
      pendingWrites: ({ context }) => Math.max(0, context.pendingWrites - 1),
      error: ({ context, event }) => (event.type === 'removed.written' || event.type === 'invites.written') && event.error != null ? event.error : context.error
    }),
    /** Keep a bus event that arrived while not running, to handle it once running */
    keepEarly: assign({
      early: ({ context, event }) => keepEarly(context.early, event as EarlyEvent)
    }),
    /** Handle the kept events, oldest first, as if they arrived now */
    handleEarly: enqueueActions(({ context, enqueue }) => {
      for (const event of context.early) enqueue.raise(event)
      enqueue.assign({ early: [] })
    }),
    stopChildren: enqueueActions(({ context, enqueue }) => {
      for (const peerId of Object.keys(context.peers)) enqueue.stopChild(peerActorId(peerId))
      for (const userDb of Object.keys(context.active)) enqueue.stopChild(announcementActorId(userDb))
      for (const key of Object.keys(context.retrying)) enqueue.cancel(retryTimerId(key))
      enqueue.assign({ peers: {}, active: {}, queue: [], retrying: {} })
    }),
    reset: assign({ known: {}, opened: {}, early: [], pendingWrites: 0 })
  }
}).createMachine({
  id: 'discovery',
  context: ({ input }) => initialContext(input),
  // Live as long as the actor: the bus (so that what arrives before `start()` has
  // finished is kept and handled once running), the writer of removed companions (so
  // that stopping can wait for its writes) and the closer.
  invoke: [
    { id: 'bus', src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
    { id: REMOVED_STORE_ID, src: 'removedStore', input: ({ context }) => ({ log: context.log }) },
    { id: INVITE_WRITER_ID, src: 'inviteWriter', input: ({ context }) => ({ log: context.log }) },
    { id: CLOSER_ID, src: 'closer', input: ({ context }) => ({ log: context.log }) }
  ],
  on: {
    'message:received': { guard: not('otherProtocol'), actions: 'keepEarly' },
    'companion:removed': { actions: 'keepEarly' },
    'removed.written': { actions: 'written' },
    'invites.written': { actions: 'written' }
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
        src: 'openOwnDatabases',
        input: ({ context }) => ({ transport: context.transport, catalog: context.catalog, log: context.log, ...(context.inviteStore == null ? {} : { invites: context.inviteStore }) }),
        onDone: { target: 'running', actions: { type: 'recordStarted', params: ({ event }) => event.output } },
        onError: { target: 'failed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } }
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
        'peer.announcement': [
          { guard: 'notAccepting', actions: 'rejectNotAccepting' },
          { actions: 'accept' }
        ],
        'consent.dial': { actions: 'consentDial' },
        'consent.accept': { actions: 'consentAccept' },
        'consent.decline': { actions: 'consentDecline' },
        'invite.issue': { actions: 'issueInvite' },
        'invite.revoke': { actions: 'revokeInvite' },
        'retry.due': { guard: 'retryWanted', actions: 'retryDue' },
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
