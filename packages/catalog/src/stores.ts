import { Documents, Events, KeyValue, OWN_DATABASES, isValidAddress, nppLogger, openOwnDatabase, readManifest } from '@npp/transport'
import { SourceUnavailableError } from './errors.js'
import { CounterIndex, LogFollower, PieceIndex } from './piece-index.js'
import type { PracticeEvent, StoredPiece } from './schema.js'
import type { DocumentsDatabase, EventsDatabase, KeyValueDatabase, OrbitDB, Transport } from '@npp/transport'

const log = nppLogger('catalog')

/** Name of our practice-counter db (an Events db of increments, owner-only) */
export const PRACTICE_DB = 'practice'

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
export async function openOwnStores (orbitdb: OrbitDB, signal?: AbortSignal): Promise<OwnStores> {
  const pieces = await openOwnDatabase(orbitdb, OWN_DATABASES.pieces, Documents<StoredPiece>({ indexBy: 'hash' }))
  const user = await openOwnDatabase(orbitdb, OWN_DATABASES.user, KeyValue())
  const practice = await openOwnDatabase(orbitdb, PRACTICE_DB, Events<PracticeEvent>())
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
 * (discovery writes the profile), and the transport closes them when it stops.
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

/** Open a companion's pieces db by address (with `indexBy` again, or its index falls back to `_id`) */
export async function openReplicaStore (transport: Pick<Transport, 'orbitdb' | 'helia'>, address: string, signal?: AbortSignal): Promise<ReplicaStore> {
  if (!isValidAddress(address)) throw new SourceUnavailableError('invalid-address', `"${address}" is not an OrbitDB address`)
  // Opening with `Database: Documents` would accept any db type: check the manifest first
  const manifest = await readManifest(transport.helia, address, { signal })
  if (manifest.type !== 'documents') {
    throw new SourceUnavailableError('not-a-catalog', `${address} is a ${manifest.type} db, not a pieces (documents) db`)
  }
  // Not syncing yet: the replica's follower attaches its listeners first, then starts the sync,
  // so the first `join` (which tells us the replica caught up) cannot be missed.
  const db = await transport.orbitdb.open(address, { Database: Documents<StoredPiece>({ indexBy: 'hash' }), sync: false, signal })
  if (signal?.aborted === true) {
    await db.close()
    signal.throwIfAborted()
  }
  const index = new PieceIndex({
    onInvalid: (entry, reason) => { log('skipped entry %s of %s: %s', entry.hash, address, reason) }
  })
  return { db, index, follower: new LogFollower(db.log, index) }
}
