import { randomBytes, randomInt, randomUUID } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { enableLogging, nppLogger } from '@npp/transport'
import { CID } from 'multiformats/cid'
import { createActor } from 'xstate'
import {
  CatalogError, CatalogNotStartedError, InvalidHashError, InvalidPieceError, InvalidProfileFieldError, InvalidQueryError,
  PieceNotFoundError, ProtectedFieldError, ScoreTooLargeError
} from './errors.js'
import { catalogMachine } from './machine.js'
import { stripUndefined } from './piece-index.js'
import { Run } from './query-run.js'
import {
  CidString, LIMITS, PieceInputSchema, PiecePatchSchema, ProfileFieldSchema, ProfileValueSchema, QueryOptionsSchema,
  StoredPieceSchema, canonicalCid
} from './schema.js'
import type { OwnStores } from './stores.js'
import type { Catalog, CatalogInit, Piece, ReplicaInfo } from './types.js'

/** Profile fields the system manages: companions find our catalog and check our peer id through them */
export const PROTECTED_PROFILE_FIELDS: readonly string[] = ['pieces', 'nodeId']

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

function stateName (value: unknown): string {
  if (typeof value === 'string') return value
  if (value != null && typeof value === 'object') {
    const [key, inner] = Object.entries(value)[0] ?? []
    return inner == null ? String(key) : stateName(inner)
  }
  return String(value)
}

/**
 * Create a catalog: our pieces, profile and practice counters, and queries
 * over our catalog and every companion's. The transport must be started
 * before `start()`. Companions are learnt from `companion:*` bus events.
 */
export function createCatalog (init: CatalogInit): Catalog {
  enableLogging()
  const log = nppLogger('catalog')
  const { transport } = init
  const actor = createActor(catalogMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport, defaultQueryTimeoutMs: init.defaultQueryTimeoutMs ?? 3000 }
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

  const write = async (s: OwnStores, doc: Piece): Promise<Piece> => {
    const entry = await s.pieces.put(doc)
    await s.piecesFollower.include(entry)
    return s.pieceIndex.get(doc.hash) ?? doc
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
      return await write(s, doc)
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
      return await write(s, stripUndefined(merged.data))
    },

    async remove (hash) {
      const key = canonicalCid(hash)
      const s = stores('remove a piece')
      if (key == null || s.pieceIndex.get(key) == null) return false
      const entry = await s.pieces.del(key)
      await s.piecesFollower.include(entry)
      return true
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
      stores('add a score')
      const { helia } = transport
      const cid = await unixfs(helia).addBytes(bytes)
      // Pinned, so a blockstore garbage collection never drops our own scores
      if (!await helia.pins.isPinned(cid)) {
        for await (const _ of helia.pins.add(cid)) { /* walks the DAG */ }
      }
      return cid.toString()
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
      const key = parseHash(hash)
      const s = stores('count a practice session')
      const entry = await s.practice.add({ hash: key, nonce: randomBytes(12).toString('hex'), at: Date.now() })
      await s.practiceFollower.include(entry)
      return s.counters.count(key)
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
        await stores('write the profile').user.put(name, parsed.data)
        // the local source of the next query carries the new name at once
        if (name === 'username') actor.send({ type: 'profile.username', username: typeof parsed.data === 'string' ? parsed.data : undefined })
      },
      async delete (field) {
        const name = parseField(field)
        if (PROTECTED_PROFILE_FIELDS.includes(name)) throw new ProtectedFieldError(name)
        await stores('write the profile').user.del(name)
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
          state: snapshot == null ? 'none' : stateName(snapshot.value),
          size: snapshot?.context.size ?? 0,
          invalid: snapshot?.context.invalid ?? 0,
          online: c.online
        }
      })
    }
  }
  return catalog
}
