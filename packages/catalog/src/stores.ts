import { Documents, Events, KeyValue, OWN_DATABASES, isValidAddress, openOwnDatabase, readManifest } from '@npp/transport'
import { SourceUnavailableError } from './errors.js'
import { CounterIndex, LogFollower, PieceIndex } from './piece-index.js'
import { ManifestSchema } from './schema.js'
import type { PracticeEvent, StoredPiece } from './schema.js'
import type { DocumentsDatabase, EventsDatabase, KeyValueDatabase, Logger, OrbitDB, Transport } from '@npp/transport'

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
export async function openOwnStores (orbitdb: OrbitDB, log: Logger, signal?: AbortSignal): Promise<OwnStores> {
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

export interface OpenReplicaOptions {
  log: Logger
  /** Aborts the open (the replica stopped) */
  signal?: AbortSignal
  /** Give up fetching the db's manifests after this long (the companion may have gone away) */
  timeoutMs?: number
}

function describeIssues (issues: ReadonlyArray<{ path: PropertyKey[], message: string }>): string {
  return issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(value)'}: ${i.message}`).join('; ')
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts */
async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal == null) return await promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        onAbort = () => { reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
      })
    ])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

/**
 * Open a companion's pieces db by address (with `indexBy` again, or its index
 * falls back to `_id`). The manifest at the address is untrusted: it is
 * validated before anything is opened. Fails with a {@link SourceUnavailableError}
 * whose `reason` is `invalid-address`, `invalid-manifest`, `not-a-catalog` or
 * `open-timeout`.
 */
export async function openReplicaStore (transport: Pick<Transport, 'orbitdb' | 'helia'>, address: string, options: OpenReplicaOptions): Promise<ReplicaStore> {
  const { log, signal: stopped, timeoutMs } = options
  if (!isValidAddress(address)) throw new SourceUnavailableError('invalid-address', `"${address}" is not an OrbitDB address`)
  const timeout = timeoutMs == null ? undefined : AbortSignal.timeout(timeoutMs)
  const signal = timeout == null ? stopped : stopped == null ? timeout : AbortSignal.any([stopped, timeout])
  const timedOut = (err: unknown): never => {
    if (timeout?.aborted === true && stopped?.aborted !== true) {
      throw new SourceUnavailableError('open-timeout', `${address} could not be fetched within ${timeoutMs} ms (is the companion connected?); it is tried again when the companion is online`, { cause: err })
    }
    throw err
  }
  // Opening with `Database: Documents` would accept any db type: check the manifest first
  let raw: unknown
  try {
    raw = await readManifest(transport.helia, address, { signal })
  } catch (err) {
    if (signal?.aborted === true) timedOut(err)
    // the block is there but is not dag-cbor (anything else, e.g. a stopped node, goes up as it is)
    if (!/decode/i.test((err as Error | undefined)?.message ?? '')) throw err
    throw new SourceUnavailableError('invalid-manifest', `${address} does not point to an OrbitDB manifest (${(err as Error).message})`, { cause: err })
  }
  const manifest = ManifestSchema.safeParse(raw)
  if (!manifest.success) {
    throw new SourceUnavailableError('invalid-manifest', `${address} does not point to a valid OrbitDB manifest (${describeIssues(manifest.error.issues)})`)
  }
  if (manifest.data.type !== 'documents') {
    throw new SourceUnavailableError('not-a-catalog', `${address} is a ${manifest.data.type} db, not a pieces (documents) db`)
  }
  // Not syncing yet: the replica's follower attaches its listeners first, then starts the sync,
  // so the first `join` (which tells us the replica caught up) cannot be missed.
  const opening = transport.orbitdb.open(address, { Database: Documents<StoredPiece>({ indexBy: 'hash' }), sync: false, signal })
  // OrbitDB takes no signal past the manifest and may go on fetching (the access
  // controller's manifest): stop waiting when the signal aborts. Should the db still
  // open, OrbitDB keeps it and hands that instance to the next attempt (and the
  // transport closes it when it stops); closing it here could close it under that attempt.
  const db = await raceAbort(opening, signal).catch(timedOut)
  const index = new PieceIndex({
    onInvalid: (entry, reason) => { log('skipped entry %s of %s: %s', entry.hash, address, reason) }
  })
  return { db, index, follower: new LogFollower(db.log, index) }
}
