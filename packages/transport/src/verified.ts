/**
 * Entries announced the moment they are verified. OrbitDB's join of a head
 * verifies every entry below it (writer, then signature) and adds them to the
 * log all at once at the end: a companion's 1,000 pieces become readable
 * together, after the last one. A db opened `from` a peer (see ./orbitdb.ts)
 * emits `verified` on `db.events` for each entry as soon as it passed both
 * checks, so a replica's index can fill while the join runs.
 */
import * as core from '@orbitdb/core'
import type { Entry, Operation } from './orbitdb.js'

type Announce = (entry: Entry<Operation>) => void
type Verifier = object

/** Per OrbitDB identity (one per OrbitDB instance), per db address: who hears its verified entries */
const listeners = new WeakMap<Verifier, Map<string, Announce>>()
const coreVerify = (core.Entry as { verify: (identity: Verifier, entry: unknown) => Promise<boolean> }).verify

/** Announce the verified entries of `address`, as the OrbitDB instance of `identity` verifies them, to `announce` */
export function announceVerified (identity: Verifier, address: string, announce: Announce): () => void {
  let dbs = listeners.get(identity)
  if (dbs == null) listeners.set(identity, dbs = new Map())
  dbs.set(address, announce)
  return () => { if (dbs.get(address) === announce) dbs.delete(address) }
}

/**
 * Called by our access controller once `entry` may be appended: verifies its
 * signature as OrbitDB does next (the same identity's `verify`, whose cache of
 * accepted signatures makes OrbitDB's own check free) and announces it.
 * Nothing happens for a db nobody listens to (our own dbs).
 */
export async function verifiedByWriter (identity: Verifier | undefined, entry: Entry<Operation>): Promise<void> {
  if (identity == null) return
  const announce = listeners.get(identity)?.get(entry.id)
  if (announce == null) return
  if (await coreVerify(identity, entry).catch(() => false)) announce(entry)
}
