/**
 * Where a companion can be reached and who it is, as recorded by discovery and
 * kept by the companions package.
 */
export interface CompanionProfile {
  /** The companion's `user` KeyValue db address (`/orbitdb/...`): its stable identity here */
  userDb: string
  /** `username` field of the companion's profile */
  username: string
  /** Address of the companion's `pieces` Documents db */
  pieces: string
  /** The companion's libp2p peer id (string form) */
  nodeId: string
}

/** A catalog query source: our own catalog or one companion's */
export interface QuerySource {
  kind: 'local' | 'companion'
  /** Username of the owner of the catalog */
  username: string
  /** Peer id of the owner of the catalog */
  peerId: string
}

/** One piece found by a distributed query, with every source that holds it */
export interface CatalogHit {
  hash: string
  instrument: string
  title?: string
  composer?: string
  notes?: string
  sources: QuerySource[]
}

/** How one source of a distributed query ended */
export interface SourceOutcome {
  source: QuerySource
  /** `answered` in time, `timedOut` (no answer within `timeoutMs`) or `failed` (offline, db unreachable, ...) */
  status: 'answered' | 'timedOut' | 'failed'
  /** Number of hits this source returned (0 unless answered) */
  hits: number
  /** Why it failed or timed out, e.g. `offline`, `not-replicated`, `invalid-address` */
  reason?: string
  /** Milliseconds from the start of the query until this source ended */
  ms: number
  /**
   * Set when the source answered from a catalog still syncing: what it answered from is
   * `done` of `known` log entries (see `catalog:syncing`); a later query may find more
   */
  syncing?: SyncProgress
}

/** Entries of a companion's log in our replica (`done`), and in its log as far as we know (`known`) */
export interface SyncProgress { done: number, known: number }

/** Final accounting of a distributed query */
export interface QuerySummary {
  /** Sources that answered in time */
  answered: number
  /** Sources that did not answer within `timeoutMs` */
  timedOut: number
  /** Sources that failed (offline, db unreachable, ...) */
  failed: number
  /** Sources among `answered` whose catalog was still syncing (see `SourceOutcome.syncing`) */
  syncing: number
  /** Distinct pieces found (after de-duplication by hash) */
  total: number
}

/**
 * Every event that travels on the bus, keyed by its `domain:verb` name.
 *
 * Packages talk only through these events and their public APIs; the app wires them.
 */
// A type alias (not an interface) so that it satisfies mitt's index-signature constraint.
export type BusEvents = {
  /** The transport is online: libp2p listens, OrbitDB is open, our own topic is subscribed */
  'transport:started': { peerId: string, multiaddrs: string[] }
  /** The transport stopped cleanly; dbs, OrbitDB, Helia and libp2p are closed */
  'transport:stopped': { peerId: string }
  /** The transport could not start (or crashed); `error` says why */
  'transport:failed': { error: Error }

  /** A peer connected (first open connection to it) */
  'peer:connected': { peerId: string, multiaddrs: string[] }
  /** A peer disconnected (its last connection closed) */
  'peer:disconnected': { peerId: string }

  /** A valid message arrived on our topic. `from` is the verified signer of the pubsub message */
  'message:received': { from: string, payload: Record<string, unknown> }
  /** A message on our topic was refused before it reached anyone: not JSON, not an object, too large or unsigned */
  'message:rejected': { from: string | undefined, reason: string, size: number }

  /** A peer announced its `user` db to us */
  'db:announced': { from: string, userDb: string }
  /** An announced db was opened and its entries have arrived */
  'db:replicated': { from: string, userDb: string, entries: number }
  /** Discovery refused an announcement or an announced db; `reason` is a stable code, `detail` says more */
  'discovery:rejected': { from: string | undefined, userDb: string | undefined, reason: string, detail: string }
  /**
   * An announcement failed for load or time, not for what the db is (its manifest or heads did not
   * arrive in time, or the validation queue was full): it is tried again after `delayMs`, while its
   * sender stays connected. `attempt` counts the attempts that failed so far; `reason` is a
   * `discovery:rejected` reason. When the attempts are used up, `discovery:rejected` follows.
   */
  'discovery:retrying': { from: string, userDb: string, reason: string, detail: string, attempt: number, delayMs: number }

  /** A peer's `user` db was validated: it is a companion now (new or updated) */
  'companion:discovered': { profile: CompanionProfile, multiaddrs: string[] }
  /**
   * A peer with a valid `user` db announced itself, but nobody consented to it yet (it was not
   * dialled by us and had no invite of ours): it waits for the user to accept or decline it
   */
  'companion:pending': { peerId: string, userDb: string, profile: CompanionProfile, inviteProblem?: string }
  /** A pending peer left the list: declined by the user, or `dropped` as the oldest of a full list */
  'companion:declined': { peerId: string, userDb: string, reason: 'declined' | 'dropped' }
  /** A companion is connected (its profile says where its catalog is) */
  'companion:online': { userDb: string, peerId: string, profile: CompanionProfile }
  /** A companion is not connected any more */
  'companion:offline': { userDb: string, peerId: string, profile: CompanionProfile }
  /** A companion was removed by the user */
  'companion:removed': { userDb: string, peerId: string }

  // A query's results are not broadcast: they go to its caller (`catalog.query()` yields them)
  /** A companion's catalog replica changed (first sync, or pieces arrived/changed); `invalid` counts remote pieces skipped by validation */
  'catalog:replicated': { userDb: string, peerId: string, username: string, pieces: number, invalid: number }
  /**
   * How far a companion's catalog has synced, in log entries: `done` are in the replica (and
   * answer queries), `known` is how many the companion's log has as far as we know. Sent as
   * batches of entries are verified (at most ~10 times a second per companion) and when a sync
   * ends; `done === known` means synced.
   */
  'catalog:syncing': { userDb: string, peerId: string, username: string, done: number, known: number }
  /** Our own catalog changed (piece added, updated or removed, or practised) */
  'catalog:changed': { hash: string, change: 'added' | 'updated' | 'removed' | 'practised' }
}

/** Name of any bus event */
export type BusEventType = keyof BusEvents
