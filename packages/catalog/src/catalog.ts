import { randomInt, randomUUID } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { enableLogging, nppLogger } from '@npp/transport'
import { CID } from 'multiformats/cid'
import { createActor, toPromise } from 'xstate'
import { z } from 'zod'
import {
  CatalogError, CatalogNotStartedError, InvalidCatalogOptionError, InvalidHashError, InvalidPieceError, InvalidProfileFieldError,
  InvalidQueryError, PieceNotFoundError, ProtectedFieldError, ScoreTooLargeError
} from './errors.js'
import { catalogMachine, replicaState } from './machine.js'
import { stripUndefined } from './piece-index.js'
import { Run } from './query-run.js'
import {
  CidString, LIMITS, PieceInputSchema, PiecePatchSchema, ProfileFieldSchema, ProfileValueSchema, QueryOptionsSchema,
  StoredPieceSchema, canonicalCid
} from './schema.js'
import { writeActorId } from './writes.js'
import type { ReplicaOptions } from './machine.js'
import type { OwnStores } from './stores.js'
import type { Catalog, CatalogInit, ReplicaInfo } from './types.js'
import type { WriteKind, WriteOp, WriteOutput, WriteResults } from './writes.js'

/** Profile fields the system manages: companions find our catalog and check our peer id through them */
export const PROTECTED_PROFILE_FIELDS: readonly string[] = ['pieces', 'nodeId']

/** Defaults of {@link CatalogInit.replicas} */
export const DEFAULT_REPLICA_OPTIONS: Readonly<ReplicaOptions> = { openTimeoutMs: 30_000, retryInitialMs: 1_000, retryMaxMs: 60_000 }

const Millis = z.number().int().positive().max(2 ** 31 - 1)
const OptionsSchema = z.object({
  defaultQueryTimeoutMs: Millis.max(LIMITS.queryTimeoutMs).optional(),
  replicas: z.object({ openTimeoutMs: Millis.optional(), retryInitialMs: Millis.optional(), retryMaxMs: Millis.optional() }).optional()
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
  const options = OptionsSchema.safeParse({ defaultQueryTimeoutMs: init.defaultQueryTimeoutMs, replicas: init.replicas })
  if (!options.success) throw new InvalidCatalogOptionError(options.error.issues)
  const log = init.logger ?? nppLogger('catalog')
  const { transport } = init
  const replicas: ReplicaOptions = { ...DEFAULT_REPLICA_OPTIONS, ...stripUndefined(options.data.replicas ?? {}) }
  if (replicas.retryMaxMs < replicas.retryInitialMs) replicas.retryMaxMs = replicas.retryInitialMs
  const actor = createActor(catalogMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport, defaultQueryTimeoutMs: options.data.defaultQueryTimeoutMs ?? 3000, log, replicas }
  })
  forwardEmitted(actor, init.bus)
  const runs = new Map<string, Run>()
  actor.on('catalog:result', (e) => { runs.get(e.queryId)?.push({ type: 'batch', queryId: e.queryId, source: e.source, hits: e.hits }) })
  actor.on('catalog:done', (e) => {
    log('query %s done: %o', e.queryId, e.summary)
    runs.get(e.queryId)?.push({ type: 'done', queryId: e.queryId, summary: e.summary, hits: e.hits, sources: e.sources })
    runs.delete(e.queryId)
  })
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
      const run = new Run(randomUUID())
      runs.set(run.id, run)
      actor.send({
        type: 'query',
        queryId: run.id,
        filter: stripUndefined({ instrument, text }),
        limit,
        timeoutMs: timeoutMs ?? actor.getSnapshot().context.defaultQueryTimeoutMs,
        startedAt: performance.now()
      })
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
          online: c.online
        }
      })
    }
  }
  return catalog
}
