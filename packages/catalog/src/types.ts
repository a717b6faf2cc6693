/**
 * The catalog's data types: pieces, queries and their events, replicas and
 * the profile. (The `Catalog` itself and its init are in ./catalog.ts.)
 */
import type { CatalogHit, QuerySource, QuerySummary, SourceOutcome, SyncProgress } from '@npp/bus'

/** A piece of sheet music in a catalog */
export interface Piece {
  /** CID string of the score (canonical form: CIDv0 base58btc or CIDv1 base32) */
  hash: string
  instrument: string
  title?: string
  composer?: string
  notes?: string
  /** Milliseconds since the epoch */
  addedAt: number
}

/** What `add()` takes: `addedAt` defaults to now */
export type PieceInput = Omit<Piece, 'addedAt'> & { addedAt?: number }

/** What changed for one piece of our catalog (the payload of `catalog:changed`) */
export interface PieceChange {
  hash: string
  change: 'added' | 'updated' | 'removed' | 'practised'
}

/** Filter of a catalog lookup */
export interface PieceFilter {
  instrument?: string
  text?: string
}

export interface QueryOptions {
  /** Only pieces of this instrument (case-insensitive) */
  instrument?: string
  /** Only pieces whose title, composer or notes contain this text (case-insensitive) */
  text?: string
  /** At most this many merged hits (sorted by title, then hash) */
  limit?: number
  /** Sources that have not answered after this many milliseconds end as `timedOut` */
  timeoutMs?: number
}

/**
 * What a distributed query reports, in order: one `batch` per source that
 * answered (as it answers), then one `done`. The query machine emits the
 * batches and outputs the `done`; `catalog.query()` yields all of them, and
 * the app streams them as they are (one JSON line each).
 */
export type QueryEvent =
  | {
    type: 'batch'
    queryId: string
    /** Who answered */
    source: QuerySource
    /** Its matching pieces, each with this one source */
    hits: CatalogHit[]
  }
  | {
    type: 'done'
    queryId: string
    summary: QuerySummary
    /** Merged, de-duplicated by hash, every source kept; bounded by `limit` */
    hits: CatalogHit[]
    /** How each source ended (answered, timedOut or failed, with the reason) */
    sources: SourceOutcome[]
  }

/** The end of a query: its `done` event without `type` and `queryId` */
export interface QueryResult {
  summary: QuerySummary
  hits: CatalogHit[]
  sources: SourceOutcome[]
}

/**
 * A running distributed query: iterate it (once) for its {@link QueryEvent}s
 * as they arrive, or await `done`. Events are buffered until they are read,
 * so an iteration started late still sees every batch and then `done`.
 */
export interface QueryRun extends AsyncIterable<QueryEvent> {
  readonly id: string
  readonly done: Promise<QueryResult>
}

/** A source of a query: our catalog or one companion's */
export interface SourceHandle {
  source: QuerySource
  /** Resolve with the matching pieces once the source can answer; reject with a `SourceUnavailableError` */
  answer(filter: PieceFilter, signal: AbortSignal): Promise<SourceReply>
}

/** The pieces a source has that match, and how far its sync is if it is still syncing */
export interface SourceReply {
  pieces: Piece[]
  syncing?: SyncProgress
}

/** How a companion's catalog (a replica) is opened and opened again */
export interface ReplicaOptions {
  /** Give up fetching a companion's db after this long, and try again later (ms) */
  openTimeoutMs: number
  /** First wait before opening a failed replica again while its companion is online (ms); doubles each time */
  retryInitialMs: number
  /** Longest wait between two attempts (ms) */
  retryMaxMs: number
  /**
   * Most log entries kept of one companion's catalog: a replica past it stops syncing
   * (state `overQuota`, reason `over-quota`) and answers from what it has
   */
  maxEntries: number
  /**
   * Most bytes of log entries kept of one companion's catalog (the encoded size of every
   * entry its follower applied): past it, the same as past `maxEntries`
   */
  maxBytes: number
  /** Most replicas open at once: online companions and the most recently seen first; the others open when they come online */
  maxOpen: number
}

/** A companion's replicated catalog, as the catalog sees it */
export interface ReplicaInfo {
  userDb: string
  peerId: string
  username: string
  /** Address of the companion's pieces db */
  pieces: string
  /** `opening`, `loading`, `waiting` (for the companion's first sync), `ready`, `overQuota`, `closing`, `closed`, `failed` or `retrying` */
  state: string
  /** Valid pieces in the replica */
  size: number
  /** Entries skipped because they failed validation */
  invalid: number
  /** Log entries applied to the replica's index (quota `replicas.maxEntries`) */
  entries: number
  /** Their encoded size in bytes (quota `replicas.maxBytes`) */
  bytes: number
  /** Entries the companion's log has as far as we know: more than `entries` while a sync is under way (see `catalog:syncing`) */
  known: number
  online: boolean
}

/** Our profile: the fields of our `user` db */
export interface Profile {
  get(field: string): Promise<unknown>
  /** Refuses `pieces` and `nodeId` with a `ProtectedFieldError` */
  set(field: string, value: unknown): Promise<void>
  /** Refuses `pieces` and `nodeId`; a deleted `username` is written again (a random one) on the next start */
  delete(field: string): Promise<void>
  all(): Promise<Record<string, unknown>>
}
