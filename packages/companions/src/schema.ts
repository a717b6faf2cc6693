import { OrbitDBAddressSchema } from '@npp/transport'
import { z } from 'zod'

/** An OrbitDB address in canonical form (the transport's schema, re-exported) */
export { OrbitDBAddressSchema }

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
  firstSeen: z.number().int().nonnegative(),
  lastSeen: z.number().int().nonnegative()
})
