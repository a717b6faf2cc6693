/**
 * Our profile: the fields of our `user` KeyValue db that peers read when we
 * announce it. The catalog owns it: this is the one list of its required
 * fields, and the one place that writes the missing ones.
 */
import { randomInt } from 'node:crypto'
import type { KeyValueDatabase } from '@npp/transport'

/**
 * The fields every profile has (a peer refuses a profile without them), and
 * who writes them: `username` is the user's (a random one until they pick
 * one); `pieces` (the address of our pieces db) and `nodeId` (our peer id)
 * are the system's, never set or deleted through `catalog.profile`.
 */
const FIELDS = { username: 'user', pieces: 'system', nodeId: 'system' } as const

/** Every field a profile must have: `username`, `pieces`, `nodeId` */
export const REQUIRED_PROFILE_FIELDS: readonly string[] = Object.keys(FIELDS)

/** The fields the system writes (`pieces`, `nodeId`): companions find our catalog and check our peer id through them */
export const PROTECTED_PROFILE_FIELDS: readonly string[] = Object.entries(FIELDS).flatMap(([field, owner]) => owner === 'system' ? [field] : [])

/** A random fixture username such as `musician-482913` */
export function randomUsername (): string {
  return `musician-${randomInt(100_000, 1_000_000)}`
}

const usableUsername = (value: unknown): value is string => typeof value === 'string' && value.trim().length > 0

/** What {@link completeProfile} needs to know about us */
export interface OwnProfile {
  /** Address of our pieces db */
  pieces: string
  /** Our peer id */
  nodeId: string
  /** Fields to start with (a fixture): each written only when missing; `username` only when there is no usable one */
  fixture?: Record<string, unknown>
}

/**
 * Make sure our `user` db holds every required field, each checked and
 * written on its own, so that a start that crashed between two writes (or a
 * field lost since) is completed on the next start:
 * - `username`: written only when missing or not a non-empty string; a
 *   username the user set is never overwritten. `fixture.username` or
 *   {@link randomUsername}.
 * - `pieces`: written whenever it is not the address of our pieces db.
 * - `nodeId`: written whenever it is not our peer id.
 * - every other field of `fixture`: written only when missing.
 *
 * Returns the fields it wrote.
 */
export async function completeProfile (db: Pick<KeyValueDatabase, 'all' | 'put'>, own: OwnProfile): Promise<string[]> {
  const fixture = own.fixture ?? {}
  // A Map: field names come from the db and are never looked up on a prototype
  const current = new Map((await db.all()).map((e) => [e.key, e.value]))
  const writes: Array<[string, unknown]> = []
  for (const [field, value] of Object.entries(fixture)) {
    if (!REQUIRED_PROFILE_FIELDS.includes(field) && !current.has(field)) writes.push([field, value])
  }
  if (!usableUsername(current.get('username'))) {
    writes.push(['username', usableUsername(fixture.username) ? fixture.username : randomUsername()])
  }
  if (current.get('pieces') !== own.pieces) writes.push(['pieces', own.pieces])
  if (current.get('nodeId') !== own.nodeId) writes.push(['nodeId', own.nodeId])
  for (const [field, value] of writes) await db.put(field, value)
  return writes.map(([field]) => field)
}
