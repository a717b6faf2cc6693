/**
 * The root discovery machine's context, input and events, the ids of its long-lived
 * actors, and the pure reads of its context that its actions share
 */
import type { Known, Pending, Queued } from './admission.js'
import type { AnnouncementInput } from './announcement.machine.js'
import type { judgeValidated, InviteProof, InviteStore, IssuedInvite, PendingCompanion } from './consent.js'
import type { AnnouncedProfile, InvitesCommand, InvitesWritten, PeersListed, RemovedWritten } from './discovery.actors.js'
import type { AnnouncementReport, ChildEmit, PeerAnnouncement } from './events.js'
import type { DiscoveryOptions } from './options.js'
import type { RetryDue } from './retries.js'
import type { Tombstone } from './schema.js'
import type { Bus, BusEvent } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

export interface DiscoveryInput {
  bus: Bus
  transport: Transport
  catalog: AnnouncedProfile
  /** Who is a companion already (the companions package owns that fact; `createCompanions()` satisfies this) */
  companions: KnownCompanions
  /** Where our invites outlive a restart (none: they live in memory) */
  invites?: InviteStore
  options: DiscoveryOptions
  log: Logger
  /** Randomness for the retry jitter (default Math.random) */
  random?: () => number
}

/** What discovery asks of the companions package */
export interface KnownCompanions {
  /** Is this `user` db address or peer id one of our companions */
  has(userDbOrPeerId: string): boolean
  /** How many companions there are */
  count(): number
}

/** Id of the root's actor that writes the db of removed companions */
export const REMOVED_STORE_ID = 'removed-store'
/** Id of the root's actor that saves our invites */
export const INVITE_WRITER_ID = 'invite-writer'
/** Id of the root's actor that closes companions' dbs that were removed */
export const CLOSER_ID = 'closer'

/** Bus events kept while not running (see `keepEarly`) */
export type EarlyEvent = BusEvent<'message:received' | 'companion:removed'>

export interface DiscoveryContext extends Omit<DiscoveryInput, 'random' | 'invites'> {
  /** Where our invites are kept (see `DiscoveryInput.invites`) */
  inviteStore: InviteStore | undefined
  random: () => number
  /** Address of our own `user` db (known while running) */
  userDb: string | undefined
  /** Our db of removed companions (open while running) */
  removedDb: KeyValueDatabase<Tombstone> | undefined
  /** Peers with a child actor */
  peers: Record<string, true>
  /** Announced dbs being validated, by db */
  active: Record<string, Queued>
  /** Announcements waiting for a free slot, oldest first */
  queue: Queued[]
  /** Announcements waiting out a retry delay, by sender and db, with the reason of their last failure */
  retrying: Record<string, Pending>
  /** Validated companions' user dbs, kept open until `companion:removed` (companions keep one per peer) */
  known: Record<string, Known>
  /** Dbs opened by a validation still in progress (closed on stop) */
  opened: Record<string, KeyValueDatabase>
  /** Companions the user removed, by `user` db address: never validated again until `readmit` */
  removed: Record<string, { nodeId: string }>
  /** Writes sent to the `removedStore` and not yet done */
  pendingWrites: number
  /** Peers the user consented to (dialled by us, invited, accepted), by peer id */
  consented: Record<string, true>
  /** Validated peers nobody consented to yet, oldest first (at most `options.maxPending`) */
  pending: PendingCompanion[]
  /** Our invites, by id (kept in `inviteStore` if there is one) */
  invites: Record<string, IssuedInvite>
  /** Proofs of other peers' invites, sent with our announcement to them, by their peer id */
  proofs: Record<string, InviteProof>
  /** Why an invite a peer presented did not admit it, by peer id (shown with its pending entry) */
  inviteProblems: Record<string, string>
  /** Bus events that arrived while not running, handled on entering `running` */
  early: EarlyEvent[]
  error: Error | undefined
}

export type DiscoveryEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | BusEvent<'peer:connected' | 'peer:disconnected' | 'message:received' | 'companion:removed'>
  | PeersListed
  | PeerAnnouncement
  /** A retry's delay is over */
  | RetryDue
  /** Accept again the removed companions whose `user` db address or peer id is `target` */
  | { type: 'readmit', target: string }
  /** The user dials this peer (with the proof of its invite, if any): consent to it */
  | { type: 'consent.dial', peerId: string, proof?: InviteProof }
  /** The user accepts the pending peers whose peer id or `user` db is `target` */
  | { type: 'consent.accept', target: string }
  /** The user declines them (remembered like a removed companion) */
  | { type: 'consent.decline', target: string }
  | { type: 'invite.issue', invite: IssuedInvite }
  | { type: 'invite.revoke', id: string }
  | ChildEmit
  | AnnouncementReport
  | RemovedWritten
  | InvitesWritten

/** The context a new discovery actor starts with */
export const initialContext = (input: DiscoveryInput): DiscoveryContext => ({
  bus: input.bus,
  transport: input.transport,
  catalog: input.catalog,
  companions: input.companions,
  inviteStore: input.invites,
  options: input.options,
  log: input.log,
  random: input.random ?? Math.random,
  userDb: undefined,
  removedDb: undefined,
  peers: {},
  active: {},
  queue: [],
  retrying: {},
  known: {},
  opened: {},
  removed: {},
  pendingWrites: 0,
  consented: {},
  pending: [],
  invites: {},
  proofs: {},
  inviteProblems: {},
  early: [],
  error: undefined
})

/** Send the invites to their store (if there is one): the context's fields that change with it */
export function saveInvites (context: DiscoveryContext, invites: Record<string, IssuedInvite>, send: (command: InvitesCommand) => void): { pendingWrites?: number } {
  if (context.inviteStore == null) return {}
  send({ type: 'save', store: context.inviteStore, invites: Object.values(invites) })
  return { pendingWrites: context.pendingWrites + 1 }
}

/** What consent reads of the root's context */
export const consentState = (context: DiscoveryContext): Parameters<typeof judgeValidated>[0] => ({
  policy: context.options.accept,
  consented: context.consented,
  isCompanion: (id) => context.companions.has(id),
  count: () => context.companions.count(),
  maxCompanions: context.options.maxCompanions,
  maxPending: context.options.maxPending,
  pending: context.pending,
  inviteProblems: context.inviteProblems
})

export const validationInput = (context: DiscoveryContext, next: Queued, known: KeyValueDatabase | undefined): AnnouncementInput =>
  ({ transport: context.transport, log: context.log, from: next.from, userDb: next.userDb, timeoutMs: context.options.replicationTimeoutMs, db: known })
