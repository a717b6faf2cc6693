import { OrbitDBAddressSchema } from '@npp/transport'
import { z } from 'zod'
import type { CompanionProfile } from '@npp/bus'

/** A companion's profile as discovery validated it (the same bounds as discovery's `ProfileSchema`) */
export const CompanionProfileSchema = z.object({
  userDb: OrbitDBAddressSchema,
  username: z.string().min(1).max(200),
  pieces: OrbitDBAddressSchema,
  nodeId: z.string().min(1).max(200)
})

/**
 * A value of the `companions` db, validated when it is read back (the db is
 * ours, but a repo can be damaged or written by an older version). Its
 * `multiaddrs` are cleaned again with `companionMultiaddrs()` after parsing.
 */
export const CompanionRecordSchema = z.object({
  userDb: OrbitDBAddressSchema,
  profile: CompanionProfileSchema,
  multiaddrs: z.array(z.unknown()).max(1_000),
  /** Older records have none */
  hosts: z.array(z.unknown()).max(1_000).optional(),
  firstSeen: z.number().int().nonnegative(),
  lastSeen: z.number().int().nonnegative()
})

/** One companion as stored in the `companions` db (key: `userDb`) */
export interface CompanionRecord {
  /** The companion's `user` db address: its key */
  userDb: string
  profile: CompanionProfile
  /** Where it was last reachable, each with `/p2p/<peer id>`; at most 8, best first (see `companionMultiaddrs`) */
  multiaddrs: string[]
  /**
   * IP hosts we saw it at ourselves (we dialled it there, or its connections came
   * from there), newest first, at most 16: its addresses on these hosts are redialled
   * as ours, the others only as far as the dial policy allows (see `dialPlan`)
   */
  hosts: string[]
  /** When it was discovered first (ms since the epoch) */
  firstSeen: number
  /** When it was last connected (ms since the epoch) */
  lastSeen: number
}
