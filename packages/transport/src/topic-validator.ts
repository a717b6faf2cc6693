/**
 * Gossipsub validators for OrbitDB's db topics. OrbitDB publishes each new
 * entry (its encoded block) on the topic named by the db's address, and checks
 * what arrives there one entry at a time, through one queue per db. A
 * validator runs before that queue: an entry that cannot be one of this db's,
 * or whose identity our access controller already knows to be no writer of it,
 * is rejected at once. A rejected message is neither delivered to OrbitDB nor
 * forwarded by gossipsub to other peers (a forged entry no longer travels on to
 * our companions), and it is counted and logged (see `transport.diagnostics()`).
 *
 * What only a fetch or a signature check can decide passes here and is decided
 * by OrbitDB and our access controller (see ./writer-check.ts).
 */
import * as dagCbor from '@ipld/dag-cbor'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { reportNotice } from './console-filter.js'
import type { Database } from './orbitdb.js'
import type { PrecheckRefusal } from './writer-check.js'
import type { GossipSub } from '@libp2p/gossipsub'

/** Largest entry accepted on a db topic (a piece is well under 4 KiB; gossipsub itself allows 4 MiB) */
export const MAX_ENTRY_BYTES = 256 * 1024

/** Why a message on a db topic was rejected before OrbitDB saw it */
export type TopicRejection = 'too-large' | 'undecodable' | 'wrong-log' | PrecheckRefusal

/** The part of a db a validator needs */
export type GuardedDatabase = Pick<Database, 'address' | 'access'>

/** Why `data` (a message on `db`'s topic) cannot be one of its entries, or `undefined` when OrbitDB must decide */
export function entryRejection (db: GuardedDatabase, data: Uint8Array): TopicRejection | undefined {
  if (data.byteLength > MAX_ENTRY_BYTES) return 'too-large'
  let entry: unknown
  try {
    entry = dagCbor.decode(data)
  } catch {
    return 'undecodable'
  }
  if (entry == null || typeof entry !== 'object' || Array.isArray(entry)) return 'undecodable'
  const { id, identity, key, sig } = entry as Record<string, unknown>
  if (typeof key !== 'string' || typeof sig !== 'string') return 'undecodable'
  if (id !== db.address) return 'wrong-log'
  return db.access.precheck?.(identity, key)
}

/**
 * Validate every message on `db`'s topic with {@link entryRejection} until the
 * db closes (or the returned function is called).
 *
 * @example
 * ```ts
 * const db = await orbitdb.open(address)
 * guardDbTopic(libp2p.services.pubsub, db)
 * ```
 */
export function guardDbTopic (pubsub: Pick<GossipSub, 'topicValidators'>, db: GuardedDatabase & Pick<Database, 'events'>): () => void {
  const validate = (_from: unknown, message: { data: Uint8Array }): TopicValidatorResult => {
    const reason = entryRejection(db, message.data)
    if (reason == null) return TopicValidatorResult.Accept
    reportNotice({ source: 'pubsub', kind: reason, detail: `${db.address}: a ${message.data.byteLength}-byte message refused (${reason})` })
    return TopicValidatorResult.Reject
  }
  pubsub.topicValidators.set(db.address, validate)
  const unguard = (): void => {
    db.events.off('close', unguard)
    db.events.off('drop', unguard)
    if (pubsub.topicValidators.get(db.address) === validate) pubsub.topicValidators.delete(db.address)
  }
  db.events.on('close', unguard)
  db.events.on('drop', unguard)
  return unguard
}
