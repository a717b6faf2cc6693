/**
 * @packageDocumentation
 *
 * The catalog of New Piece, Please!: our pieces of sheet music (an owner-only
 * OrbitDB Documents db indexed by `hash`), our profile (the `user` KeyValue
 * db, whose required fields the catalog writes on start: `username` unless
 * the user has one, `pieces`, `nodeId`), practice counters that never lose an
 * increment between our devices, and distributed queries over our catalog
 * and every companion's.
 *
 * Companions are learnt from the bus (`companion:discovered`, `online`,
 * `offline`, `removed`): the catalog opens each companion's pieces db, keeps it
 * replicated while they are known, and keeps an in-memory index of every
 * pieces db up to date from its entries, so a query never scans an OrbitDB
 * log. A query is a child actor (`query-<id>`) with one child per source
 * (`source-local`, `source-<peer id>`); sources that are offline or not
 * replicated in time end as `failed`/`timedOut` without holding up the others.
 * `catalog.query()` yields its {@link QueryEvent}s: a `batch` per source as it
 * answers, then `done` with the merged hits. A companion's replica that could
 * not be opened (it went away meanwhile) is opened again with backoff while
 * the companion is online, and at once when it comes online again.
 *
 * Every write (`add`, `update`, `remove`, `practise`, `addScore`, `profile.set`,
 * `profile.delete`) runs in a child actor of the machine (`write-<n>`); `stop()`
 * waits for the writes under way, and writes asked for after it are refused.
 * The input schemas and `LIMITS` are exported, so an app can check CLI or HTTP
 * input with exactly the catalog's rules; every error is an `NppError` whose
 * `kind` gives its HTTP status.
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
 * // logger and profile optional
 * const catalog = createCatalog({ bus, transport, profile: { username: 'clara' }, logger: nppLogger('my-app:catalog') })
 * await transport.start()
 * await catalog.start() // before companions and discovery, so it sees their events
 * console.log(catalog.userDbAddress) // our profile, for discovery to announce
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

export { createCatalog } from './catalog.js'
export type { Catalog, CatalogInit } from './catalog.js'
export { catalogMachine } from './catalog.machine.js'
export { queryMachine } from './query.machine.js'
export { sourceMachine } from './source.machine.js'
export { replicaMachine } from './replica.machine.js'
export { REQUIRED_PROFILE_FIELDS, PROTECTED_PROFILE_FIELDS } from './profile.js'
// The input schemas and limits, for apps that check input (CLI arguments, HTTP bodies) before it reaches the catalog
export {
  LIMITS, CidString, Instrument, pieceFields, PieceInputSchema, PiecePatchSchema, ProfileFieldSchema, ProfileValueSchema,
  QueryOptionsSchema, StoredPieceSchema
} from './schema.js'
export type { StoredPiece } from './schema.js'
export {
  CatalogError, CatalogNotStartedError, InvalidCatalogOptionError, InvalidHashError, InvalidPieceError, InvalidProfileFieldError, InvalidQueryError,
  PieceNotFoundError, ProtectedFieldError, ScoreTooLargeError, SourceUnavailableError
} from './errors.js'
export type { ValidationIssue } from './errors.js'
export type {
  Piece, PieceInput, PieceChange, PieceFilter, QueryOptions, QueryEvent, QueryResult, QueryRun, SourceHandle, SourceReply, ReplicaInfo, ReplicaOptions, Profile
} from './types.js'
export type { CatalogHit, QuerySource, QuerySummary, SourceOutcome } from '@npp/bus'
