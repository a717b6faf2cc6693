/**
 * The typed facade over `@orbitdb/core` 4, which ships no TypeScript types.
 * Only what New Piece, Please! uses is declared; every cast from the untyped
 * module happens in this file.
 */
import * as core from '@orbitdb/core'
import * as dagCbor from '@ipld/dag-cbor'
import PQueue from 'p-queue'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { join } from 'node:path'
import { knownKeysIndexStorage } from './index-storage.js'
import { nppLogger } from './logging.js'
import { prefetchLogBlocks, serveLogBlocks } from './log-blocks.js'
import { retryFailedExchanges } from './exchange-retry.js'
import { announceVerified } from './verified.js'
import type { PrecheckRefusal } from './writer-check.js'
// our IPFSAccessController, registered as OrbitDB's `ipfs` controller when it loads
import { IPFSAccessController } from './access-controller.js'
import type { EventEmitter } from 'node:events'
import type { NppLibp2p } from './node.js'
import type { Helia } from '@helia/interface'
import type { PeerId } from '@libp2p/interface'
import { readManifest } from './blocks.js'
import { HeadsPolicy, accessProviders, providersOf, withArrivals, withLibp2p, withProviders, withStopSignal } from './providers.js'
import { BlockArrivals } from './arrivals.js'
import { NotStartedError } from './errors.js'
import { fastVerify } from './verify.js'
import { fastSign } from './sign.js'
import type { KeystoreKey, SignFn } from './sign.js'
import { coalesceHeads } from './heads-publish.js'
import type { VerifyFn } from './verify.js'

/** An OrbitDB identity: `id` is what access controllers list as writers */
export interface Identity {
  id: string
  publicKey: string
  hash: string
  type: string
}

/** One entry of a database's operation log */
export interface Entry<P = unknown> {
  hash: string
  id: string
  payload: P
  /** Hash of the writer's identity */
  identity: string
  clock: { id: string, time: number }
  next: string[]
  refs: string[]
}

/** The payload of KeyValue and Documents entries */
export interface Operation<V = unknown> {
  op: 'PUT' | 'DEL' | 'ADD'
  key: string | null
  value: V | null
}

/** Events of `db.events` (a Node EventEmitter) */
export interface DatabaseEventMap {
  /** An entry was appended locally or joined from a peer */
  update: [entry: Entry<Operation>]
  /** A peer exchanged heads with us for this db (it has the db open too) */
  join: [peerId: unknown, heads: Array<Entry<Operation>>]
  /**
   * Ours, only for a db opened `from` a peer: an entry passed the checks of a join (writer
   * and signature) and will be in the log when the join ends (see ./verified.ts)
   */
  verified: [entry: Entry<Operation>]
  /** A peer that had this db open went away */
  leave: [peerId: unknown]
  close: []
  drop: []
  error: [error: Error]
}

/** The access controller of a db */
export interface AccessController {
  type: string
  /** `/ipfs/<cid>` of the controller's manifest */
  address: string
  /** Identity ids allowed to write (`*` for anyone) */
  write: string[]
  canAppend(entry: Entry): Promise<boolean>
  /**
   * Ours only (see {@link IPFSAccessController}): a refusal decided from memory
   * alone, without waiting, or `undefined` when only `canAppend` can tell
   */
  precheck?: (identity: unknown, key: unknown) => PrecheckRefusal | undefined
}

/** The operation log behind a db */
export interface Log {
  id: string
  heads(): Promise<Array<Entry<Operation>>>
  values(): Promise<Array<Entry<Operation>>>
  has(hash: string): Promise<boolean>
  /** One entry by its hash, from local storage (or fetched over bitswap) */
  get(hash: string): Promise<Entry<Operation> | undefined>
  /**
   * Verify `entry` and every entry below it that the log lacks, and add them all (what a
   * db does with each head it receives); resolves false if the log had it. Throws when
   * an entry cannot be fetched or is refused.
   */
  joinEntry(entry: Entry<Operation>): Promise<boolean>
}

/** A db's head exchange with peers (OrbitDB's `Sync`) */
export interface DatabaseSync {
  /** Subscribe to the db's topic and exchange heads with peers that have it open; no-op when started */
  start(): Promise<void>
  stop(): Promise<void>
}

/** What all database types share */
export interface Database {
  /** `/orbitdb/<manifest hash>` */
  address: string
  name: string
  type: string
  identity: Identity
  meta: Record<string, unknown>
  events: EventEmitter<DatabaseEventMap>
  access: AccessController
  log: Log
  /** Peer ids currently syncing this db with us */
  peers: Set<string>
  /**
   * The head exchange. Open with `{ sync: false }`, attach `db.events` listeners, then
   * `await db.sync.start()` to be sure not to miss the first `join`.
   */
  sync: DatabaseSync
  /**
   * Append one operation to the log (what `put`/`del` do underneath). Lets a
   * caller that knows a key exists delete it without `Documents.del`'s log scan.
   */
  addOperation(op: Operation): Promise<string>
  close(): Promise<void>
  drop(): Promise<void>
}

export interface KeyValueEntry<V> { key: string, value: V, hash: string }

/** A KeyValue db: last write per key wins */
export interface KeyValueDatabase<V = unknown> extends Database {
  type: 'keyvalue'
  put(key: string, value: V): Promise<string>
  del(key: string): Promise<string>
  get(key: string): Promise<V | undefined>
  all(): Promise<Array<KeyValueEntry<V>>>
  iterator(options?: { amount?: number }): AsyncIterable<KeyValueEntry<V>>
}

export interface DocumentEntry<D> { hash: string, key: string, value: D }

/** A Documents db: documents indexed by the field `indexBy` */
export interface DocumentsDatabase<D extends Record<string, unknown> = Record<string, unknown>> extends Database {
  type: 'documents'
  indexBy: string
  put(doc: D): Promise<string>
  /** Throws if no document has that key */
  del(key: string): Promise<string>
  /** Scans the log; see the catalog's in-memory index for hot paths */
  get(key: string): Promise<DocumentEntry<D> | undefined>
  query(filter: (doc: D) => boolean): Promise<D[]>
  all(): Promise<Array<DocumentEntry<D>>>
  iterator(options?: { amount?: number }): AsyncIterable<DocumentEntry<D>>
}

export interface EventsEntry<V> { hash: string, value: V }

/** An Events db: an append-only log */
export interface EventsDatabase<V = unknown> extends Database {
  type: 'events'
  add(value: V): Promise<string>
  get(hash: string): Promise<V | undefined>
  all(): Promise<Array<EventsEntry<V>>>
  iterator(options?: { amount?: number, gt?: string, gte?: string, lt?: string, lte?: string }): AsyncIterable<EventsEntry<V>>
}

/** A database implementation, passed to `open({ Database })`. `D` is only a type tag. */
export interface DatabaseFactory<D extends Database> {
  (args: unknown): Promise<unknown>
  readonly __database?: D
  /** The db type the factory implements; {@link openOwnDatabase} writes it into the manifest */
  readonly type?: 'keyvalue' | 'documents' | 'events'
}

/** An access controller implementation, passed to `open({ AccessController })` */
export interface AccessControllerFactory {
  (args: unknown): Promise<unknown>
}

export interface OpenOptions<D extends Database = Database> {
  /** Database implementation; needed again when opening a Documents db by address (for `indexBy`) */
  Database?: DatabaseFactory<D>
  /** Only used when creating a db by name */
  AccessController?: AccessControllerFactory
  type?: 'keyvalue' | 'documents' | 'events'
  meta?: Record<string, unknown>
  /** Sync with peers automatically (default true) */
  sync?: boolean
  /** Aborts fetching the manifest of a remote db */
  signal?: AbortSignal
  /**
   * The peer (id) that owns or announced a remote db: its manifests, entries and writer
   * identities are asked of this peer alone, and of every connected peer only when it
   * is not connected or does not have a block (see `BlockOptions.providers` in ./blocks.ts)
   */
  from?: string
  /** OrbitDB's storage for the log's entries (by default an LRU cache over Helia's blockstore, not pinned) */
  entryStorage?: unknown
  /** OrbitDB's index of the log's entries (for a db opened `from` a peer: ./index-storage.ts) */
  indexStorage?: unknown
}

/** A running OrbitDB instance */
export interface OrbitDB {
  id: string
  identity: Identity
  directory: string
  open<D extends Database>(address: string, options: OpenOptions<D> & { Database: DatabaseFactory<D> }): Promise<D>
  open(address: string, options?: OpenOptions): Promise<Database>
  stop(): Promise<void>
}

export interface CreateOrbitDBOptions {
  ipfs: Helia<NppLibp2p>
  /** Identity id; keep it stable to keep the same identity across restarts */
  id?: string
  directory?: string
}

const logBlocksLog = nppLogger('log-blocks')
const headsLog = nppLogger('heads')
/** Longest a prefetch of a log's blocks may take before OrbitDB goes on over bitswap */
const PREFETCH_BUDGET_MS = 15_000
const coreCreateOrbitDB = core.createOrbitDB as (options: CreateOrbitDBOptions) => Promise<OrbitDB>
type CoreStorage = Record<string, unknown>
const coreStorage = core as unknown as {
  ComposedStorage: (...storages: CoreStorage[]) => Promise<CoreStorage>
  LRUStorage: (options: { size: number }) => Promise<CoreStorage>
  IPFSBlockStorage: (options: { ipfs: unknown, pin: boolean }) => Promise<CoreStorage>
}

/**
 * A log's entries as OrbitDB stores them by default (an LRU cache of 1,000 entries over
 * Helia's blockstore), with two changes:
 * - not pinned: a pin costs a put ~0.5 ms of LevelDB reads and writes (bench:write), and
 *   protects a block only from Helia's garbage collection, which npp never runs;
 * - the cache keeps a copy of each entry's bytes of their own size. An encoded entry is
 *   a view of a larger buffer (Node 24 hands out small Buffers from 64 KiB pools, and
 *   cborg allocates with them): cached as it is, a ~600-byte entry kept its whole pool
 *   alive, ~85 MB after joining 10 companions' 10,000 entries (bench:join's heap).
 */
async function entriesIn (ipfs: unknown): Promise<CoreStorage> {
  const cache = await coreStorage.LRUStorage({ size: 1000 }) as CoreStorage & { put: (hash: string, value: unknown) => Promise<void> }
  const put = cache.put
  cache.put = async (hash, value) => { await put(hash, ownBytes(value)) }
  return await coreStorage.ComposedStorage(cache, await coreStorage.IPFSBlockStorage({ ipfs, pin: false }))
}

/** `value`, or a copy of its bytes in a buffer of their own when it is a view of a larger one */
function ownBytes<T> (value: T): T {
  if (!(value instanceof Uint8Array) || value.byteLength === value.buffer.byteLength) return value
  return new Uint8Array(value) as T
}

/**
 * Start OrbitDB on a Helia node. Its `open()` takes {@link OpenOptions.from}: a remote
 * db's blocks are then asked of that peer, and its heads exchanged with it (see
 * ./providers.ts), not with every peer that is connected or has the db open.
 */
export async function createOrbitDB (options: CreateOrbitDBOptions): Promise<OrbitDB> {
  // Stopping aborts every block fetch OrbitDB has under way, so that an open waiting on
  // the network ends at once instead of creating its LevelDB stores after the stop
  const stopping = new AbortController()
  const ipfs = withStopSignal(options.ipfs, stopping.signal)
  // a head a peer sends in an exchange: first the blocks below it, in one stream from that
  // peer (./log-blocks.ts), unless we have the head already. OrbitDB's join starts once
  // the stream has brought the head, and its walk waits for each block the stream is
  // bringing (./arrivals.ts): entries are verified while the rest streams.
  // Prefetches run two at a time: joining ten companions at once, ten streams in parallel
  // all ended late (bench:join: the first entries in any replica after 6.6 s); two at a time,
  // the first log is local early and verified while the next ones stream (2.4 s, all 10,000
  // in the same 13.6 s; one at a time: 2.3 s, but 18.5 s for all). Each has
  // PREFETCH_BUDGET_MS: a peer that streams slowly holds no one up (bitswap fetches the rest).
  const prefetches = new PQueue({ concurrency: 2 })
  const arrivals = new BlockArrivals()
  const heads = new HeadsPolicy(ipfs.libp2p, async (peer, head) => {
    const cid = CID.createV1(dagCbor.code, await sha256.digest(head))
    if (await ipfs.blockstore.has(cid)) return
    await new Promise<void>((resolve) => {
      prefetches.add(async () => {
        const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(PREFETCH_BUDGET_MS)])
        const result = await prefetchLogBlocks(ipfs, peer, [cid], { signal, log: logBlocksLog, arrivals, onFirstBlock: resolve })
        logBlocksLog('prefetched below %s from %s: %o', cid, peer, result)
      }).catch(() => {}).finally(resolve)
    })
  })
  const unserve = await serveLogBlocks(ipfs, logBlocksLog)
  const announced = coalesceHeads(heads.wrap(), { log: headsLog })
  // OrbitDB reads blocks through `waiting`; the log-blocks streams store them through `ipfs`
  const waiting = withArrivals(ipfs, arrivals)
  const orbitdb = await coreCreateOrbitDB({ ...options, ipfs: withLibp2p(waiting, announced.libp2p) })
  // every log verifies its entries with our identity's verify (libsecp256k1 in front of noble),
  // and our entries are signed by libsecp256k1 (./secp256k1.ts)
  const identity = orbitdb.identity as Identity & { verify: VerifyFn, sign: SignFn }
  identity.verify = fastVerify(identity.verify)
  const keystore = (orbitdb as unknown as { keystore: { getKey: (id: string) => Promise<KeystoreKey | undefined> } }).keystore
  identity.sign = fastSign(identity.sign, async (id) => await keystore.getKey(id))
  const open = orbitdb.open
  // dbs opened `from` a peer, by address: opening one again returns it, as OrbitDB's own
  // open does (the stores below are created once; a second LevelDB on the same folder fails)
  const openedFrom = new Map<string, Promise<Database>>()
  const openFrom = async (address: string, openOptions: OpenOptions = {}): Promise<Database> => {
    const providers = providersOf(openOptions.from)
    if (providers == null || !isValidAddress(address)) {
      const { from: _from, ...rest } = openOptions
      return await open(address, { ...rest, entryStorage: rest.entryStorage ?? await entriesIn(ipfs) })
    }
    const key = address.startsWith('/orbitdb/') ? address : `/orbitdb/${address}`
    const existing = openedFrom.get(key)
    if (existing != null) return await existing
    const opening = openWithProviders(address, providers, openOptions)
    openedFrom.set(key, opening)
    try {
      const db = await opening
      db.events.once('close', () => { if (openedFrom.get(key) === opening) openedFrom.delete(key) })
      return db
    } catch (err) {
      openedFrom.delete(key)
      throw err
    }
  }
  const openWithProviders = async (address: string, providers: PeerId[], openOptions: OpenOptions): Promise<Database> => {
    const { from: _from, ...rest } = openOptions
    // OrbitDB reads the manifest through a store of its own: have the block first
    const manifest = await readManifest(ipfs, address, { signal: rest.signal, providers })
    const scoped = withProviders(waiting, providers)
    const entryStorage = rest.entryStorage ?? await entriesIn(scoped)
    // (a db OrbitDB already has open without `from` holds the folder: OrbitDB's own index then)
    const ownIndex = rest.indexStorage != null
      ? undefined
      : await knownKeysIndexStorage(join(orbitdb.directory, `./${address}/`, '/log/_index/')).catch(() => undefined)
    const release = accessProviders.hold(manifest.accessController, providers)
    try {
      const db = await open(address, { ...rest, entryStorage, indexStorage: rest.indexStorage ?? ownIndex })
      const source = providers[0]!
      const cleanups = [
        heads.follow(db.address, source),
        retryFailedExchanges(ipfs.libp2p, db, source),
        announceVerified(orbitdb.identity, db.address, (entry) => { db.events.emit('verified', entry) })
      ]
      db.events.once('close', () => { for (const cleanup of cleanups) cleanup() })
      return db
    } catch (err) {
      await ownIndex?.close().catch(() => {})
      throw err
    } finally {
      release()
    }
  }
  // OrbitDB's stop closes the dbs it has opened, not those still opening: each would
  // open after the stop and write into a repo its owner may already be removing
  const opening = new Set<Promise<Database>>()
  orbitdb.open = (async (address: string, openOptions?: OpenOptions) => {
    if (stopping.signal.aborted) throw new NotStartedError(`open ${address}`)
    const pending = openFrom(address, openOptions)
    opening.add(pending)
    try {
      return await pending
    } finally {
      opening.delete(pending)
    }
  }) as OrbitDB['open']
  const stop = orbitdb.stop
  orbitdb.stop = async () => {
    stopping.abort(new NotStartedError('fetch a block'))
    announced.stop()
    await Promise.allSettled([...opening])
    await unserve().catch(() => {})
    await stop()
  }
  return orbitdb
}

// OrbitDB tags its outer factory functions with `type` (`KeyValue.type === 'keyvalue'`) but
// not the implementations they return, and `open(name, { Database })` without `type` writes
// `events` into the manifest. Each implementation is tagged here so that the manifest of a
// db created by name says what it is.
type CoreFactory = ((args: unknown) => Promise<unknown>) & { type?: string }
const coreKeyValue = core.KeyValue as () => CoreFactory
const coreDocuments = core.Documents as (options: { indexBy: string }) => CoreFactory
const coreEvents = core.Events as () => CoreFactory
export const KeyValue = <V = unknown>(): DatabaseFactory<KeyValueDatabase<V>> => Object.assign(coreKeyValue(), { type: 'keyvalue' as const })
export const Documents = <D extends Record<string, unknown> = Record<string, unknown>>(options: { indexBy: string }): DatabaseFactory<DocumentsDatabase<D>> =>
  Object.assign(coreDocuments(options), { type: 'documents' as const })
export const Events = <V = unknown>(): DatabaseFactory<EventsDatabase<V>> => Object.assign(coreEvents(), { type: 'events' as const })
/** True for a string of the form `/orbitdb/<CID>` */
export const isValidAddress = core.isValidAddress as (address: unknown) => boolean


/**
 * Names of the databases every peer owns. Opening one by name with
 * {@link openOwnDatabase} yields the same address in every package, so the
 * packages agree on them without talking to each other.
 */
export const OWN_DATABASES = {
  /** KeyValue, owned by the catalog: the profile (`username`, `pieces`, `nodeId`, ...); announced by discovery */
  user: 'user',
  /** Documents indexed by `hash`, owned by the catalog: the pieces */
  pieces: 'pieces',
  /** Events, owned by the catalog: one entry per practice session (a grow-only counter per piece) */
  practice: 'practice',
  /** KeyValue, owned by companions: companions by their `user` db address */
  companions: 'companions',
  /** KeyValue, owned by discovery: user dbs of companions the user removed (not re-admitted by themselves) */
  removedCompanions: 'removed-companions'
} as const

/** Name of one of this peer's own databases */
export type OwnDatabaseName = typeof OWN_DATABASES[keyof typeof OWN_DATABASES]

/**
 * Open (or create) one of this peer's own databases by name, writable only by
 * this peer's OrbitDB identity. Deterministic: the same name and type give the
 * same address on every call and after restarts.
 */
export async function openOwnDatabase<D extends Database> (orbitdb: OrbitDB, name: string, Database: DatabaseFactory<D>): Promise<D> {
  return await orbitdb.open(name, {
    Database,
    type: Database.type,
    AccessController: IPFSAccessController({ write: [orbitdb.identity.id] })
  })
}
