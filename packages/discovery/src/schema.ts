import { isValidAddress } from '@npp/transport'
import { z } from 'zod'

/**
 * An OrbitDB address in the canonical form OrbitDB itself produces:
 * `/orbitdb/` + a base58btc CIDv1 (`zdpu...`). One spelling per db, so the
 * same db announced twice is recognised as the same.
 */
export const OrbitDBAddressSchema = z.string()
  .regex(/^\/orbitdb\/z[1-9A-HJ-NP-Za-km-z]{30,120}$/, 'expected /orbitdb/<base58btc CID>')
  .refine((address) => isValidAddress(address), 'not a valid OrbitDB address')

/** `type` of an announcement message */
export const ANNOUNCE_TYPE = 'npp/announce'

/** The message a peer sends on our topic to tell us where its `user` db is */
export const AnnouncementSchema = z.object({
  type: z.literal(ANNOUNCE_TYPE),
  v: z.literal(1),
  userDb: OrbitDBAddressSchema
}).strict()

export type Announcement = z.infer<typeof AnnouncementSchema>

/** The profile fields of a `user` db that make it a companion (other fields are allowed) */
export const ProfileSchema = z.object({
  username: z.string().min(1).max(200),
  pieces: OrbitDBAddressSchema,
  nodeId: z.string().min(1).max(200)
})

/** A db manifest as OrbitDB stores it at the db's address */
export const ManifestSchema = z.object({
  name: z.string(),
  type: z.string(),
  accessController: z.string().regex(/^\/ipfs\/[1-9A-HJ-NP-Za-km-z]+$/, 'expected /ipfs/<CID>')
})

/** The manifest of an `IPFSAccessController` (`/ipfs/<CID>`) */
export const AccessManifestSchema = z.object({
  type: z.string(),
  write: z.array(z.string())
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
  /** too many announcements waiting already */
  | 'queue-full'
  /** the sender is not connected to us (its announcement was relayed) */
  | 'not-connected'
  /** the announced db is one of our own */
  | 'own-db'
  /** the manifest or the entries never arrived within `replicationTimeoutMs` */
  | 'not-found'
  /** the announced db is not a KeyValue db (or no OrbitDB db at all) */
  | 'wrong-type'
  /** the announced db is not write-restricted (`IPFSAccessController` with a writer other than `*`) */
  | 'bad-access'
  /** OrbitDB could not open the db */
  | 'open-failed'
  /** the profile has no `pieces` field */
  | 'no-pieces'
  /** `username`, `pieces` or `nodeId` is missing or malformed */
  | 'invalid-profile'
  /** `nodeId` is not the peer that signed the announcement */
  | 'node-id-mismatch'
  /** the `pieces` db's manifest never arrived within `replicationTimeoutMs` */
  | 'pieces-not-found'
  /** `pieces` is not the address of a Documents db */
  | 'pieces-wrong-type'

/** Summarise zod issues in one line for `detail` */
export function describeIssues (error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ')
}
