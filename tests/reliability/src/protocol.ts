/**
 * The JSON-lines protocol between a test (or the soak benchmark) and a peer
 * running in its own process (./child.ts): options on the command line,
 * commands on stdin, events on stdout.
 */

/** Options of a child peer (argv[3], JSON) */
export interface PeerOptions {
  /** Listen multiaddrs (default: loopback TCP on a free port) */
  listen?: string[]
  /** Transport liveness checks (see `TransportInit.connectionMonitor`) */
  connectionMonitor?: { pingIntervalMs?: number, pingTimeoutMs?: number } | false
  /** Companions' redial backoff */
  backoff?: { initialMs?: number, maxMs?: number, factor?: number, jitter?: number }
  /** Discovery options */
  discovery?: {
    replicationTimeoutMs?: number
    maxConcurrent?: number
    maxQueued?: number
    maxPerSender?: number
    accept?: 'consent' | 'all' | 'none'
    rateLimit?: { announcements: number, windowMs: number }
    /** Retries of announcements that failed for load or time (see `DiscoveryInit.validationRetry`) */
    validationRetry?: { attempts?: number, initialMs?: number, maxMs?: number }
  }
  /** Profile fields written on first start (e.g. `username`) */
  profile?: Record<string, unknown>
  /** Catalog options: how companions' catalogs are kept (see `CatalogInit.replicas`) */
  catalog?: { replicas?: { maxEntries?: number, maxBytes?: number, maxOpen?: number, openTimeoutMs?: number } }
  /** Count the streams the peer opens by protocol and the pubsub events it handles; `stats` replies carry them as `counted` */
  countStreams?: boolean
  /** Report `fetched` events: blocks that came from the network (bitswap), every `trackFetches` blocks */
  trackFetches?: number
  /** Report a `stats` event (memory) every this many ms */
  statsEveryMs?: number
  /** Report every refused OrbitDB entry and db sync error of our own dbs (`db:refused`) */
  watchDbs?: boolean
  /**
   * Report every `transport.connect()` (the companions' redials too) and how it ended
   * (`dial`: address, advertised, ok or the error's and its cause's names), and every TCP
   * socket the process opens (`socket:connect`: host, port), before it sends anything
   */
  watchDials?: boolean
}

/** A piece a child writes: its hash is the CID (raw, sha2-256) of `seed` */
export interface PieceSeed {
  seed: string
  instrument?: string
}

/** Commands (stdin); every command carries an `id`, answered by one `reply` event */
export type Command =
  | { cmd: 'connect', addr: string }
  | { cmd: 'add', seed: string, instrument?: string }
  /**
   * Write `count` pieces (or until `stopWriting`) one after the other, an `acked` event after
   * each, `intervalMs` apart (default: at once; a benchmark's pace); replies when the loop ends
   */
  | { cmd: 'write', prefix: string, count?: number, instrument?: string, intervalMs?: number }
  | { cmd: 'stopWriting' }
  /** Our own pieces' hashes */
  | { cmd: 'pieces' }
  /** The hashes of a companion's catalog as a query over our replica sees them */
  | { cmd: 'replica', peerId: string, timeoutMs?: number }
  /** Resolve once our replica of `peerId`'s catalog holds every hash (event-driven); replies `{ ok, missing, ms }` */
  | { cmd: 'waitReplica', peerId: string, hashes: string[], timeoutMs: number }
  | { cmd: 'companions' }
  /** `catalog.replicas()`: every companion's replica, its state, size, entries and bytes */
  | { cmd: 'replicas' }
  /** `discovery.pending()`: validated peers waiting for consent, oldest first */
  | { cmd: 'pending' }
  /** `discovery.accept(target)` (a peer id or user db); replies `{ accepted }` */
  | { cmd: 'accept', target: string }
  /** `discovery.decline(target)`; replies `{ declined }` once the tombstone is written */
  | { cmd: 'decline', target: string }
  /** Heads and values of our pieces, user and companions dbs */
  | { cmd: 'dbState' }
  /** `transport.diagnostics()` of the child */
  | { cmd: 'diagnostics' }
  /** process.memoryUsage(), after a full GC when `gc` (the child runs with --expose-gc) */
  | { cmd: 'stats', gc?: boolean }
  | { cmd: 'query', instrument?: string, timeoutMs?: number }
  | { cmd: 'stop' }

export type CommandName = Command['cmd']

/** What `dbState` replies for each db */
export interface DbState {
  address: string
  heads: string[]
  entries: number
  /** JSON of every key/value (or document), sorted */
  values: string
}

/** An event of a child: `event` is a bus event type or one of the harness's own */
export interface ChildEvent {
  event: string
  /** Wall-clock ms (performance.timeOrigin + performance.now()) when it was written */
  at: number
  [key: string]: unknown
}

export interface MemoryStats {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  /** CPU time the process used so far (user + system), in ms */
  cpuMs: number
}
