/**
 * @packageDocumentation
 *
 * The catalog of New Piece, Please!: our pieces of sheet music (an owner-only
 * OrbitDB Documents db indexed by `hash`), our profile (the `user` KeyValue
 * db), practice counters that never lose an increment between our devices,
 * and distributed queries over our catalog and every companion's.
 *
 * Companions are learnt from the bus (`companion:discovered`, `online`,
 * `offline`, `removed`): the catalog opens each companion's pieces db, keeps it
 * replicated while they are known, and keeps an in-memory index of every
 * pieces db up to date from its entries, so a query never scans an OrbitDB
 * log. A query is a child actor (`query-<id>`) with one child per source
 * (`source-local`, `source-<peer id>`); sources that are offline or not
 * replicated in time end as `failed`/`timedOut` without holding up the others.
 * Results also go out on the bus as `catalog:result` and `catalog:done`.
 * A companion's replica that could not be opened (it went away meanwhile) is
 * opened again with backoff while the companion is online, and at once when
 * it comes online again.
 *
 * Every write (`add`, `update`, `remove`, `practise`, `addScore`, `profile.set`,
 * `profile.delete`) runs in a child actor of the machine (`write-<n>`); `stop()`
 * waits for the writes under way, and writes asked for after it are refused.
 * The input schemas and `LIMITS` are exported, so an app can check CLI or HTTP
 * input with exactly the catalog's rules.
 *
 * @example Compose the catalog into an app
 *
 * ```ts
 * import { createBus } from '@npp/bus'
 * import { createTransport, nppLogger } from '@npp/transport'
 * import { createCatalog } from '@npp/catalog'
 *
 * const bus = createBus()
 * const transport = createTransport({ bus, repo: './my-repo' })
 * const catalog = createCatalog({ bus, transport, logger: nppLogger('my-app:catalog') }) // logger optional
 * await transport.start()
 * await catalog.start() // before discovery/companions, so it sees their events
 *
 * const hash = await catalog.addScore(scoreBytes)
 * await catalog.add({ hash, instrument: 'violin', title: 'Partita No. 2' })
 * console.log(await catalog.random({ instrument: 'violin' })) // "new piece, please!"
 *
 * for await (const event of catalog.query({ instrument: 'violin', timeoutMs: 2000 })) {
 *   if (event.type === 'batch') console.log(event.source.username, event.hits.length)
 *   else console.log(event.summary, event.hits) // merged, each hit with all its sources
 * }
 * ```
 */

export { createCatalog, DEFAULT_REPLICA_OPTIONS, PROTECTED_PROFILE_FIELDS } from './catalog.js'
export { catalogMachine, queryMachine, sourceMachine, replicaMachine, replicaState, PERMANENT_REPLICA_FAILURES } from './machine.js'
export type {
  CatalogMachineContext, CatalogMachineEvent, CatalogMachineInput, CatalogEmitted, CompanionState, SourceHandle,
  QueryInput, SourceInput, ReplicaInput, ReplicaOptions, ReplicaRef
} from './machine.js'
export { performWrite, writeActorId } from './writes.js'
export type { WriteOp, WriteKind, WriteOutput, WriteResults } from './writes.js'
export { PieceIndex, CounterIndex, LogFollower } from './piece-index.js'
export type { PieceChange, PieceFilter, EntrySink } from './piece-index.js'
export { PRACTICE_DB } from './stores.js'
// The input schemas and limits, for apps that check input (CLI arguments, HTTP bodies) before it reaches the catalog
export {
  LIMITS, canonicalCid, CidString, Instrument, ManifestSchema, pieceFields, PieceInputSchema, PiecePatchSchema, ProfileFieldSchema,
  ProfileValueSchema, QueryOptionsSchema, StoredPieceSchema
} from './schema.js'
export type { StoredPiece } from './schema.js'
export * from './errors.js'
export type {
  Piece, PieceInput, CatalogInit, QueryOptions, QueryEvent, QueryResult, QueryRun, ReplicaInfo, Profile, Catalog
} from './types.js'
export type { CatalogHit, QuerySource, QuerySummary, SourceOutcome } from '@npp/bus'
