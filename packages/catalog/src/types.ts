import type { catalogMachine } from './machine.js'
import type { Startable } from '@libp2p/interface'
import type { Bus, CatalogHit, QuerySource, QuerySummary, SourceOutcome } from '@npp/bus'
import type { Logger, Transport } from '@npp/transport'
import type { Actor, InspectionEvent, Observer } from 'xstate'

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

export interface CatalogInit {
  /** The peer's bus: the catalog listens to `companion:*` and emits `catalog:*` */
  bus: Bus
  /** A started (or starting) transport; the catalog's dbs live in its OrbitDB */
  transport: Transport
  /** Default `timeoutMs` of `query()` (3000) */
  defaultQueryTimeoutMs?: number
  /** Debug logger (default: `nppLogger('catalog')`, shown with `LOG=npp:catalog`) */
  logger?: Logger
  /**
   * How companions' catalogs are opened. A replica that could not be opened
   * (the companion went away meanwhile) is opened again after `retryInitialMs`,
   * doubling up to `retryMaxMs`, while the companion is online, and at once
   * when it comes online again.
   */
  replicas?: {
    /** Give up fetching a companion's pieces db after this long (30 000 ms) */
    openTimeoutMs?: number
    /** First wait before trying again (1 000 ms) */
    retryInitialMs?: number
    /** Longest wait between tries (60 000 ms) */
    retryMaxMs?: number
  }
  /** XState inspection observer for the catalog's actors (queries, sources, replicas) */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
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

export type QueryEvent =
  | { type: 'batch', queryId: string, source: QuerySource, hits: CatalogHit[] }
  | {
    type: 'done'
    queryId: string
    summary: QuerySummary
    /** Merged, de-duplicated by hash, every source kept; bounded by `limit` */
    hits: CatalogHit[]
    /** How each source ended (answered, timedOut or failed, with the reason) */
    sources: SourceOutcome[]
  }

export interface QueryResult {
  summary: QuerySummary
  hits: CatalogHit[]
  sources: SourceOutcome[]
}

/** A running distributed query: iterate it for batches as they arrive, or await `done` */
export interface QueryRun extends AsyncIterable<QueryEvent> {
  readonly id: string
  readonly done: Promise<QueryResult>
}

/** A companion's replicated catalog, as the catalog sees it */
export interface ReplicaInfo {
  userDb: string
  peerId: string
  username: string
  /** Address of the companion's pieces db */
  pieces: string
  /** `opening`, `loading`, `waiting` (for the companion's first sync), `ready`, `closing`, `closed`, `failed` or `retrying` */
  state: string
  /** Valid pieces in the replica */
  size: number
  /** Entries skipped because they failed validation */
  invalid: number
  online: boolean
}

export interface Profile {
  get(field: string): Promise<unknown>
  /** Refuses `pieces` and `nodeId` with a {@link ProtectedFieldError} */
  set(field: string, value: unknown): Promise<void>
  delete(field: string): Promise<void>
  all(): Promise<Record<string, unknown>>
}

/**
 * Writes (`add`, `update`, `remove`, `practise`, `addScore`, `profile.set`,
 * `profile.delete`) run as child actors of the catalog's machine. They are
 * accepted only while the catalog runs (else a `CatalogNotStartedError`);
 * `stop()` waits for the writes already accepted before it closes the dbs.
 */
export interface Catalog extends Startable {
  /** The root actor, for inspection; queries, their sources and companions' replicas are its children */
  readonly actor: Actor<typeof catalogMachine>
  /** Address of our pieces db (the `pieces` field of our profile) */
  readonly piecesAddress: string
  /** Add a piece, or replace the one with the same hash */
  add(piece: PieceInput): Promise<Piece>
  get(hash: string): Promise<Piece | undefined>
  /** Change fields of a piece; a field set to `undefined` is removed */
  update(hash: string, patch: Partial<Omit<Piece, 'hash'>>): Promise<Piece>
  /** True if the piece was there */
  remove(hash: string): Promise<boolean>
  /** Every piece, oldest first */
  all(): Promise<Piece[]>
  /** Pieces of one instrument (case-insensitive), oldest first */
  byInstrument(instrument: string): Promise<Piece[]>
  /** "New piece, please!": a uniformly random piece of our catalog (of that instrument) */
  random(options?: { instrument?: string }): Promise<Piece | undefined>
  /** Add a score file to IPFS (UnixFS, pinned); returns its CID string, the `hash` of a piece */
  addScore(bytes: Uint8Array): Promise<string>
  /** Read a score file by CID (from our blockstore or fetched from connected peers) */
  readScore(hash: string, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** Count one practice session of a piece; returns the new count */
  practise(hash: string): Promise<number>
  practiceCount(hash: string): Promise<number>
  /** Fields of our `user` db */
  profile: Profile
  /** Ask our catalog and every companion's; see {@link QueryRun} */
  query(options?: QueryOptions): QueryRun
  /** Companions' replicated catalogs */
  replicas(): ReplicaInfo[]
}
