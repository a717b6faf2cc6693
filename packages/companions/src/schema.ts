import { z } from 'zod'

/** A companion's profile as discovery validated it */
export const CompanionProfileSchema = z.object({
  userDb: z.string().startsWith('/orbitdb/'),
  username: z.string(),
  pieces: z.string().startsWith('/orbitdb/'),
  nodeId: z.string().min(1)
})

/**
 * A value of the `companions` db, validated when it is read back (the db is
 * ours, but a repo can be damaged or written by an older version).
 */
export const CompanionRecordSchema = z.object({
  userDb: z.string().startsWith('/orbitdb/'),
  profile: CompanionProfileSchema,
  multiaddrs: z.array(z.string()),
  firstSeen: z.number().int().nonnegative(),
  lastSeen: z.number().int().nonnegative()
})
