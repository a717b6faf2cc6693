import { OrbitDBAddressSchema } from '@npp/transport'
import { z } from 'zod'
import { InviteProofSchema } from './consent.js'

/** An OrbitDB address in canonical form (the transport's schema, re-exported) */
export { OrbitDBAddressSchema }

/** `type` of an announcement message */
export const ANNOUNCE_TYPE = 'npp/announce'

/**
 * The message a peer sends on our topic to tell us where its `user` db is;
 * `invite` proves that it holds one of our invites (see `consent.ts`)
 */
export const AnnouncementSchema = z.object({
  type: z.literal(ANNOUNCE_TYPE),
  v: z.literal(1),
  userDb: OrbitDBAddressSchema,
  invite: InviteProofSchema.optional()
}).strict()

export type Announcement = z.infer<typeof AnnouncementSchema>

/** The profile fields of a `user` db that make it a companion (other fields are allowed) */
export const ProfileSchema = z.object({
  username: z.string().min(1).max(200),
  pieces: OrbitDBAddressSchema,
  nodeId: z.string().min(1).max(200)
})

/**
 * Stable codes of `discovery:rejected`. `not-json` and friends are the
 * transport's (`message:rejected`); these are discovery's.
 */
export type RejectionReason =
  /** the message is not a valid `{ type: 'npp/announce', v: 1, userDb }` */
  | 'bad-shape'
  /** the sender exceeded its announcements per window */
  | 'rate-limited'
  /** too many announcements waiting already (retried later while the sender is connected) */
  | 'queue-full'
  /** the sender is not connected to us (its announcement was relayed) */
  | 'not-connected'
  /** the announced db is one of our own */
  | 'own-db'
  /** the db's manifest did not arrive within `replicationTimeoutMs` and its announcer does not have it open: it may not exist */
  | 'not-found'
  /** the db (open at its announcer) did not arrive within `replicationTimeoutMs` (its manifest, or its heads), its manifests' fetch failed, or its heads came but could not be joined; retried */
  | 'replication-timeout'
  /** the announced db is not a KeyValue db (or no OrbitDB db at all) */
  | 'wrong-type'
  /** the announced db is not write-restricted (`IPFSAccessController` with a writer other than `*`) */
  | 'bad-access'
  /** OrbitDB could not open the db (after its manifests passed: a local failure; retried) */
  | 'open-failed'
  /** the profile has no `pieces` field */
  | 'no-pieces'
  /** `username`, `pieces` or `nodeId` is missing or malformed */
  | 'invalid-profile'
  /** `nodeId` is not the peer that signed the announcement */
  | 'node-id-mismatch'
  /** the `pieces` db's manifests did not arrive within `replicationTimeoutMs`, or their fetch failed (retried) */
  | 'pieces-not-found'
  /** `pieces` is not the address of a Documents db */
  | 'pieces-wrong-type'
  /** the `pieces` db is not write-restricted to the owner of the `user` db (someone else's catalog) */
  | 'pieces-not-owned'
  /** the same peer announced the same db again while it is being validated or waits (nothing to add) */
  | 'duplicate'
  /** the user removed or declined this peer (`companion:removed`, `discovery.decline()`); `discovery.readmit()` accepts it again */
  | 'removed'
  /** the policy is `accept: 'none'`: no new companions */
  | 'not-accepting'
  /** we keep `maxCompanions` already */
  | 'too-many-companions'

/**
 * A companion the user removed, kept (in our own `removed-companions` db) so
 * that it is not discovered again by itself. Key: its `user` db address.
 */
export const TombstoneSchema = z.object({
  nodeId: z.string().min(1).max(200),
  removedAt: z.number().int().nonnegative()
})

export type Tombstone = z.infer<typeof TombstoneSchema>
