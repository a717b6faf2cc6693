/**
 * The catalog's facade: `createCatalog()` validates every input, sends each
 * request to the root machine (./catalog.machine.ts) and reads the answer
 * from the child actor that runs it (a write, a query).
 */
import { randomInt, randomUUID } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { enableLogging, nppLogger } from '@npp/transport'
import { CID } from 'multiformats/cid'
import { createActor, toPromise } from 'xstate'
import { z } from 'zod'
import { catalogMachine } from './catalog.machine.js'
import {
  CatalogError, CatalogNotStartedError, InvalidCatalogOptionError, InvalidHashError, InvalidPieceError, InvalidProfileFieldError,
  InvalidQueryError, PieceNotFoundError, ProtectedFieldError, ScoreTooLargeError
} from './errors.js'
import { stripUndefined } from './piece-index.js'
import { PROTECTED_PROFILE_FIELDS } from './profile.js'
import { queryRun } from './query-run.js'
import { replicaProgress, replicaState } from './replica.machine.js'
import {
  CidString, LIMITS, PieceInputSchema, PiecePatchSchema, ProfileFieldSchema, ProfileValueSchema, QueryOptionsSchema,
  StoredPieceSchema, canonicalCid
} from './schema.js'
import { writeActorId } from './writes.js'
import type { queryMachine } from './query.machine.js'
import type { OwnStores } from './stores.js'
import type { Piece, PieceInput, Profile, QueryOptions, QueryRun, ReplicaInfo, ReplicaOptions } from './types.js'
import type { WriteKind, WriteOp, WriteOutput, WriteResults } from './writes.js'
import type { Startable } from '@libp2p/interface'
import type { Bus } from '@npp/bus'
import type { Logger, Transport } from '@npp/transport'
import type { Actor, ActorRefFrom, InspectionEvent, Observer } from 'xstate'

export interface CatalogInit {
  /** The peer's bus: the catalog listens to `companion:*` and emits `catalog:changed` and `catalog:replicated` */
  bus: Bus
  /** A started (or starting) transport; the catalog's dbs live in its OrbitDB */
  transport: Transport
  /** Default `timeoutMs` of `query()` (3000) */
  defaultQueryTimeoutMs?: number
  /**
   * Fields to start our profile with (a fixture), e.g. `{ username: 'clara' }`.
   * On every start the catalog writes each required field that is missing:
   * `username` (this one, or a random `musician-123456`) only when there is no
   * usable one, so a name the user picked is never overwritten; `pieces` and
   * `nodeId` always from our own pieces db and peer id (so they cannot be
   * given here); every other field only when missing.
   */
  profile?: Record<string, unknown>
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
    /** Most log entries kept per companion (100 000); past it the replica stops syncing (`overQuota`) */
    maxEntries?: number
    /** Most bytes of log entries kept per companion (64 MiB, from 64 KiB to 16 GiB); past it the same as past `maxEntries` */
    maxBytes?: number
    /** Most replicas open at once (64): online companions and the most recently seen first */
    maxOpen?: number
  }
  /** XState inspection observer for the catalog's actors (queries, sources, replicas) */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
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
  /** Address of our `user` db (our profile): what discovery announces */
  readonly userDbAddress: string
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

/** Defaults of {@link CatalogInit.replicas} */
const DEFAULT_REPLICA_OPTIONS: Readonly<ReplicaOptions> = { openTimeoutMs: 30_000, retryInitialMs: 1_000, retryMaxMs: 60_000, maxEntries: 100_000, maxBytes: 64 * 2 ** 20, maxOpen: 64 }

const Millis = z.number().int().positive().max(2 ** 31 - 1)
const OptionsSchema = z.object({
  defaultQueryTimeoutMs: Millis.max(LIMITS.queryTimeoutMs).optional(),
  replicas: z.object({
    openTimeoutMs: Millis.optional(),
    retryInitialMs: Millis.optional(),
    retryMaxMs: Millis.optional(),
    maxEntries: z.number().int().min(1).max(10_000_000).optional(),
    maxBytes: z.number().int().min(64 * 2 ** 10).max(16 * 2 ** 30).optional(),
    maxOpen: z.number().int().min(1).max(10_000).optional()
  }).optional(),
  profile: z.record(ProfileFieldSchema, ProfileValueSchema)
    .refine((profile) => !PROTECTED_PROFILE_FIELDS.some((field) => Object.hasOwn(profile, field)), `${PROTECTED_PROFILE_FIELDS.join(' and ')} are written by the catalog; leave them out`)
    .optional()
})

function parseHash (hash: string): string {
  const parsed = CidString.safeParse(hash)
  if (!parsed.success) throw new InvalidHashError(parsed.error.issues)
  return parsed.data
}

function parseField (field: string): string {
  const parsed = ProfileFieldSchema.safeParse(field)
  if (!parsed.success) throw new InvalidProfileFieldError(parsed.error.issues)
  return parsed.data
}

/**
 * Create a catalog: our pieces, profile and practice counters, and queries
 * over our catalog and every companion's. The transport must be started
 * before `start()`. Companions are learnt from `companion:*` bus events.
 */
export function createCatalog (init: CatalogInit): Catalog {
  enableLogging()
  const options = OptionsSchema.safeParse({ defaultQueryTimeoutMs: init.defaultQueryTimeoutMs, replicas: init.replicas, profile: init.profile })
  if (!options.success) {
    const hint = options.error.issues.some((i) => i.path[0] === 'profile') ? 'Profile fields are short names with JSON values' : undefined
    throw new InvalidCatalogOptionError(options.error.issues, hint)
  }
  const log = init.logger ?? nppLogger('catalog')
  const { transport } = init
  const replicas: ReplicaOptions = { ...DEFAULT_REPLICA_OPTIONS, ...stripUndefined(options.data.replicas ?? {}) }
  if (replicas.retryMaxMs < replicas.retryInitialMs) replicas.retryMaxMs = replicas.retryInitialMs
  const actor = createActor(catalogMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport, defaultQueryTimeoutMs: options.data.defaultQueryTimeoutMs ?? 3000, log, replicas, profile: options.data.profile }
  })
  forwardEmitted(actor, init.bus)
  actor.start()
  const lifecycle = actorLifecycle(actor, { running: 'running' }, {
    startFailed: (cause) => cause ?? new CatalogError('The catalog failed to start'),
    stopFailed: (cause) => cause ?? new CatalogError('The catalog failed to stop'),
    interrupted: () => new CatalogError('The catalog was stopped while starting')
  })

  const stores = (what: string): OwnStores => {
    const snapshot = actor.getSnapshot()
    const current = snapshot.context.stores
    if (!snapshot.matches('running') || current == null) throw new CatalogNotStartedError(what)
    return current
  }

  /**
   * Every write goes through the machine: it runs in a `write-<n>` child actor
   * (visible to the inspector) and the answer is that actor's output. A write
   * is accepted only while the catalog runs; `stop()` waits for the writes it
   * has accepted.
   */
  let writeSeq = 0
  const write = async <K extends WriteKind>(what: string, op: Extract<WriteOp, { kind: K }>): Promise<WriteResults[K]> => {
    stores(what)
    const writeId = String(++writeSeq)
    actor.send({ type: 'write', writeId, op })
    const child = actor.getSnapshot().children[writeActorId(writeId)]
    if (child == null) throw new CatalogNotStartedError(what)
    const output = await toPromise(child) as WriteOutput | undefined
    // a write actor stopped before it ended has no output
    if (output?.kind !== op.kind) throw new CatalogNotStartedError(what)
    return output.result as WriteResults[K]
  }

  const catalog: Catalog = {
    actor,

    get piecesAddress () { return stores('read the pieces address').pieces.address },

    get userDbAddress () { return stores('read the user db address').user.address },

    async start () {
      await lifecycle.start()
      log('started; pieces db %s', actor.getSnapshot().context.stores?.pieces.address)
    },

    async stop () {
      await lifecycle.stop()
    },

    async add (piece) {
      const parsed = PieceInputSchema.safeParse(piece)
      if (!parsed.success) throw new InvalidPieceError(parsed.error.issues)
      const s = stores('add a piece')
      const existing = s.pieceIndex.get(parsed.data.hash)
      const doc = stripUndefined({ ...parsed.data, addedAt: parsed.data.addedAt ?? existing?.addedAt ?? Date.now() })
      return await write('add a piece', { kind: 'piece.put', piece: doc })
    },

    async get (hash) {
      const key = canonicalCid(hash)
      return key == null ? undefined : stores('read a piece').pieceIndex.get(key)
    },

    async update (hash, patch) {
      const key = parseHash(hash)
      const parsed = PiecePatchSchema.safeParse(patch)
      if (!parsed.success) throw new InvalidPieceError(parsed.error.issues)
      const s = stores('update a piece')
      const current = s.pieceIndex.get(key)
      if (current == null) throw new PieceNotFoundError(key)
      const next: Record<string, unknown> = { ...current }
      for (const field of Object.keys(patch)) next[field] = (parsed.data as Record<string, unknown>)[field]
      const merged = StoredPieceSchema.safeParse(stripUndefined(next))
      if (!merged.success) throw new InvalidPieceError(merged.error.issues)
      return await write('update a piece', { kind: 'piece.put', piece: stripUndefined(merged.data) })
    },

    async remove (hash) {
      const key = canonicalCid(hash)
      // our index answers whether it is there, without scanning the log
      if (key == null || stores('remove a piece').pieceIndex.get(key) == null) return false
      return await write('remove a piece', { kind: 'piece.del', hash: key })
    },

    async all () { return stores('list pieces').pieceIndex.all() },

    async byInstrument (instrument) { return stores('list pieces').pieceIndex.byInstrument(instrument) },

    async random (options = {}) {
      const index = stores('pick a piece').pieceIndex
      const pool = options.instrument != null ? index.byInstrument(options.instrument) : index.all()
      return pool.length === 0 ? undefined : pool[randomInt(pool.length)]
    },

    async addScore (bytes) {
      if (bytes.byteLength > LIMITS.scoreBytes) throw new ScoreTooLargeError(bytes.byteLength, LIMITS.scoreBytes)
      return await write('add a score', { kind: 'score', bytes })
    },

    async readScore (hash, options = {}) {
      const cid = CID.parse(parseHash(hash))
      stores('read a score')
      const chunks: Uint8Array[] = []
      let size = 0
      for await (const chunk of unixfs(transport.helia).cat(cid, { signal: options.signal })) {
        size += chunk.byteLength
        if (size > LIMITS.scoreBytes) throw new ScoreTooLargeError(size, LIMITS.scoreBytes)
        chunks.push(chunk)
      }
      const out = new Uint8Array(size)
      let offset = 0
      for (const c of chunks) { out.set(c, offset); offset += c.byteLength }
      return out
    },

    async practise (hash) {
      return await write('count a practice session', { kind: 'practise', hash: parseHash(hash) })
    },

    async practiceCount (hash) {
      const key = parseHash(hash)
      return stores('read a practice count').counters.count(key)
    },

    profile: {
      async get (field) {
        return await stores('read the profile').user.get(parseField(field))
      },
      async set (field, value) {
        const name = parseField(field)
        if (PROTECTED_PROFILE_FIELDS.includes(name)) throw new ProtectedFieldError(name)
        const parsed = ProfileValueSchema.safeParse(value)
        if (!parsed.success) throw new InvalidProfileFieldError(parsed.error.issues)
        await write('write the profile', { kind: 'profile.put', field: name, value: parsed.data })
      },
      async delete (field) {
        const name = parseField(field)
        if (PROTECTED_PROFILE_FIELDS.includes(name)) throw new ProtectedFieldError(name)
        await write('write the profile', { kind: 'profile.del', field: name })
      },
      async all () {
        const entries = await stores('read the profile').user.all()
        return Object.fromEntries(entries.map((e) => [e.key, e.value]))
      }
    },

    query (options = {}) {
      const parsed = QueryOptionsSchema.safeParse(options)
      if (!parsed.success) throw new InvalidQueryError(parsed.error.issues)
      stores('query')
      const { instrument, text, limit, timeoutMs } = parsed.data
      const queryId = randomUUID()
      actor.send({
        type: 'query',
        queryId,
        filter: stripUndefined({ instrument, text }),
        limit,
        timeoutMs: timeoutMs ?? actor.getSnapshot().context.defaultQueryTimeoutMs,
        startedAt: performance.now()
      })
      const child = actor.getSnapshot().children[`query-${queryId}`]
      if (child == null) throw new CatalogNotStartedError('query')
      const run = queryRun(queryId, child as ActorRefFrom<typeof queryMachine>)
      run.done.then((result) => { log('query %s done: %o', queryId, result.summary) }, () => {})
      return run
    },

    replicas () {
      return Object.values(actor.getSnapshot().context.companions).map((c): ReplicaInfo => {
        const snapshot = c.replica?.getSnapshot()
        return {
          userDb: c.profile.userDb,
          peerId: c.peerId,
          username: c.profile.username,
          pieces: c.profile.pieces,
          state: c.replica == null ? 'none' : replicaState(c.replica),
          size: snapshot?.context.size ?? 0,
          invalid: snapshot?.context.invalid ?? 0,
          entries: snapshot?.context.entries ?? 0,
          bytes: snapshot?.context.bytes ?? 0,
          known: snapshot == null ? 0 : replicaProgress(snapshot.context).known,
          online: c.online
        }
      })
    }
  }
  return catalog
}
