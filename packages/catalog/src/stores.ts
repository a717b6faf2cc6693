/**
 * Our own dbs (pieces, profile, practice counters) and companions' pieces dbs,
 * each with the in-memory index that answers reads and queries.
 */
import { Documents, Events, KeyValue, OWN_DATABASES, inspectDatabase, isValidAddress, openOwnDatabase } from '@npp/transport'
import { raceSignal } from 'race-signal'
import { SourceUnavailableError } from './errors.js'
import { LogFollower } from './log-follower.js'
import { CounterIndex, PieceIndex } from './piece-index.js'
import type { PracticeEvent, StoredPiece } from './schema.js'
import type { DocumentsDatabase, EventsDatabase, InspectionProblem, KeyValueDatabase, Logger, OrbitDB, Transport } from '@npp/transport'

/** Our own dbs and their in-memory indexes */
export interface OwnStores {
  pieces: DocumentsDatabase<StoredPiece>
  user: KeyValueDatabase
  practice: EventsDatabase<PracticeEvent>
  pieceIndex: PieceIndex
  piecesFollower: LogFollower
  counters: CounterIndex
  practiceFollower: LogFollower
}

/**
 * Open our pieces, user and practice dbs (the same instances other packages get
 * from `openOwnDatabase`) and build their indexes from what is stored locally.
 */
export async function openOwnStores (orbitdb: OrbitDB, log: Logger, signal?: AbortSignal): Promise<OwnStores> {
  const pieces = await openOwnDatabase(orbitdb, OWN_DATABASES.pieces, Documents<StoredPiece>({ indexBy: 'hash' }))
  const user = await openOwnDatabase(orbitdb, OWN_DATABASES.user, KeyValue())
  const practice = await openOwnDatabase(orbitdb, OWN_DATABASES.practice, Events<PracticeEvent>())
  signal?.throwIfAborted()
  const pieceIndex = new PieceIndex({
    onInvalid: (entry, reason) => { log('skipped entry %s of our pieces db: %s', entry.hash, reason) }
  })
  const piecesFollower = new LogFollower(pieces.log, pieceIndex)
  const counters = new CounterIndex()
  const practiceFollower = new LogFollower(practice.log, counters)
  await Promise.all([piecesFollower.catchUp(), practiceFollower.catchUp()])
  return { pieces, user, practice, pieceIndex, piecesFollower, counters, practiceFollower }
}

/**
 * Close what only the catalog uses. The pieces and user dbs stay open: the
 * OrbitDB instance hands the same db objects to every package that opens them
 * (discovery announces the profile), and the transport closes them when it stops.
 */
export async function closeOwnStores (stores: OwnStores): Promise<void> {
  await stores.practiceFollower.idle()
  await stores.piecesFollower.idle()
  await stores.practice.close()
}

/** A companion's pieces db, replicated, with its index */
export interface ReplicaStore {
  db: DocumentsDatabase<StoredPiece>
  index: PieceIndex
  follower: LogFollower
}

export interface OpenReplicaOptions {
  log: Logger
  /** Aborts the open (the replica stopped) */
  signal?: AbortSignal
  /** Give up fetching the db's manifests after this long (the companion may have gone away) */
  timeoutMs?: number
  /** The owner's peer id: the db's blocks are asked of it first (every connected peer when it is offline) */
  from?: string
}

/**
 * The reason of a {@link SourceUnavailableError} for each problem the
 * transport's `inspectDatabase` finds: `invalid-manifest` and `not-a-catalog`
 * are permanent (opening the same address again cannot help); `no-manifest`
 * (nothing could be fetched: the companion went away) is tried again.
 */
const INSPECTION_REASONS: Readonly<Record<InspectionProblem, string>> = {
  'no-manifest': 'no-manifest',
  'unreadable-access': 'no-manifest',
  'bad-manifest': 'invalid-manifest',
  'wrong-type': 'not-a-catalog',
  'bad-access': 'not-a-catalog'
}

/**
 * Open a companion's pieces db by address (with `indexBy` again, or its index
 * falls back to `_id`). The manifests at the address are untrusted: they are
 * inspected (a documents db, written only by its owner) before anything is
 * opened. Fails with a {@link SourceUnavailableError} whose `reason` is
 * `invalid-address`, `invalid-manifest`, `not-a-catalog`, `no-manifest` or
 * `open-timeout`.
 */
export async function openReplicaStore (transport: Pick<Transport, 'orbitdb' | 'helia'>, address: string, options: OpenReplicaOptions): Promise<ReplicaStore> {
  const { log, signal: stopped, timeoutMs, from } = options
  if (!isValidAddress(address)) throw new SourceUnavailableError('invalid-address', `"${address}" is not an OrbitDB address`)
  const timeout = timeoutMs == null ? undefined : AbortSignal.timeout(timeoutMs)
  const signal = timeout == null ? stopped : stopped == null ? timeout : AbortSignal.any([stopped, timeout])
  const timedOut = (err: unknown): never => {
    if (timeout?.aborted === true && stopped?.aborted !== true) {
      throw new SourceUnavailableError('open-timeout', `${address} could not be fetched within ${timeoutMs} ms (is the companion connected?); it is tried again when the companion is online`, { cause: err })
    }
    throw err
  }
  // Opening with `Database: Documents` would accept any db type: inspect the manifests first
  const inspection = await inspectDatabase(transport.helia, address, { type: 'documents', signal, from }).catch(timedOut)
  if (!inspection.ok) throw new SourceUnavailableError(INSPECTION_REASONS[inspection.problem], inspection.detail)
  // Not syncing yet: the replica's follower attaches its listeners first, then starts the sync,
  // so the first `join` (which tells us the replica caught up) cannot be missed.
  const opening = transport.orbitdb.open(address, { Database: Documents<StoredPiece>({ indexBy: 'hash' }), sync: false, signal, from })
  // OrbitDB takes no signal past the manifest and may go on fetching: stop waiting when
  // the signal aborts. Should the db still open, OrbitDB keeps it and hands that instance
  // to the next attempt (and the transport closes it when it stops); closing it here
  // could close it under that attempt.
  const db = await raceSignal(opening, signal).catch(timedOut)
  const index = new PieceIndex({
    onInvalid: (entry, reason) => { log('skipped entry %s of %s: %s', entry.hash, address, reason) }
  })
  return { db, index, follower: new LogFollower(db.log, index) }
}
