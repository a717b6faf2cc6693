/**
 * OrbitDB 4.0.0 reports some problems only through `console.error`, and a peer
 * can trigger them at will:
 *
 * - `database.js` (`applyOperation`) prints every remote entry it refuses, as the
 *   Error `log.joinEntry` threw: "Could not append entry: Key ... is not allowed
 *   to write to the log", "Entry's id (...) doesn't match the log's id (...)",
 *   "Could not validate signature for entry ...", "Invalid Log entry", "Entry
 *   doesn't have a key/signature", or a failed fetch of an entry it points to;
 * - `key-store.js` (`hasKey`) prints "Error: ENOENT: no such file or directory"
 *   when reading a key fails.
 *
 * (`sync.js` emits `error` on `db.events` instead; the facade counts those as
 * `sync-error`. OrbitDB has no `console.warn`. libp2p, Helia, gossipsub and
 * their modules log through `@libp2p/logger`, never `console`.)
 *
 * A hostile peer sending thousands of forged entries would fill stderr with
 * them. {@link installConsoleFilter} puts one process-wide, idempotent filter in
 * front of `console.error` and `console.warn`: a call made *directly* by
 * OrbitDB's code (its immediate caller, found in the call stack, is under
 * `node_modules/@orbitdb/core/`; or, on an engine without V8's stack API, the
 * message is one of OrbitDB's refusals) is counted by kind and logged under
 * `orbitdb:console` (`LOG=orbit*`), at most {@link LOGGED_IN_FULL} times per kind
 * and then once per power of ten. A call from libp2p's modules (none today) is
 * counted and logged under `libp2p:console`. Every other call, including one made
 * by a listener that OrbitDB or libp2p happens to call, passes through unchanged.
 */
import { inspect } from 'node:util'
import { logger } from '@libp2p/logger'
import type { TopicRejection } from './topic-validator.js'

/** What OrbitDB reported, by kind */
export type OrbitDBNoticeKind =
  /** a remote entry whose writer may not write to the db (or whose key is not its identity's) */
  | 'not-allowed'
  /** a remote entry that belongs to another db's log */
  | 'wrong-log'
  /** a remote entry whose signature does not verify */
  | 'bad-signature'
  /** a remote entry that is not a well-formed entry (no key, no signature, ...) */
  | 'invalid-entry'
  /** the keystore could not read a key */
  | 'keystore'
  /** a db's head exchange with a peer failed (`db.events` `error`: undecodable heads, a stream closed mid-exchange) */
  | 'sync-error'
  /** anything else OrbitDB printed (e.g. an entry that could not be fetched) */
  | 'other'

/** Remote entries OrbitDB refused, counted in {@link TransportDiagnostics.refusedEntries} */
const REFUSALS = ['not-allowed', 'wrong-log', 'bad-signature', 'invalid-entry'] as const satisfies readonly OrbitDBNoticeKind[]

/**
 * What OrbitDB and libp2p reported below the transport, counted since the
 * filter was installed. Process-wide: they report through the one `console`,
 * so every transport of a process shares these counts.
 */
export interface TransportDiagnostics {
  /** OrbitDB's reports by kind: its `console.error` calls and db sync errors */
  orbitdb: Record<OrbitDBNoticeKind, number>
  /** `console.error`/`console.warn` calls made by libp2p's or Helia's modules (they log through `@libp2p/logger`; expected 0) */
  libp2p: number
  /** Remote entries OrbitDB refused: `not-allowed` + `wrong-log` + `bad-signature` + `invalid-entry` */
  refusedEntries: number
  /**
   * Of the `not-allowed` ones, refused on the identity alone before anything else
   * (see ./writer-check.ts): an identity block nobody had in time, one that is not
   * the db's writer, a malformed one
   */
  refusedIdentities: Record<'unknown-identity' | 'not-a-writer' | 'bad-identity', number>
  /**
   * Messages on db topics rejected by our gossipsub validators before OrbitDB saw
   * them (neither queued nor forwarded), by reason; not part of `refusedEntries`
   */
  rejectedOnTopics: Record<TopicRejection, number>
  /**
   * Dials our dial policy refused: addresses the connection gater denied before libp2p
   * opened any socket (e.g. a companion's advertised address beyond loopback). Per
   * transport, unlike the rest: `count` since it was created, `recent` the last 16
   * addresses, newest first.
   */
  deniedDials: { count: number, recent: string[] }
  /**
   * Log blocks sent and received through `/npp/log-blocks/1.0.0` (process-wide): blocks
   * `served` to peers, `received` and `stored` by our prefetches, blocks refused as
   * `invalid` (not what their CID names), and peers that did not speak the protocol
   * (`unsupported`: stock OrbitDB peers, synced over bitswap)
   */
  logBlocks: { served: number, stored: number, received: number, invalid: number, unsupported: number }
  /**
   * Joins of dbs opened from a peer that failed, and head exchanges with their source
   * tried again after a failed join or exchange (process-wide, see ./exchange-retry.ts):
   * `scheduled`, `started` (the source was connected when the delay ended), and
   * `gaveUp` (too many failures in a row)
   */
  exchangeRetries: { failedJoins: number, scheduled: number, started: number, gaveUp: number }
}

/** The counts kept for the whole process (the rest of {@link TransportDiagnostics} is the transport's) */
type ProcessCounts = Omit<TransportDiagnostics, 'refusedIdentities' | 'deniedDials' | 'logBlocks' | 'exchangeRetries'>

export type Notice =
  | { source: 'orbitdb', kind: OrbitDBNoticeKind, detail: string }
  | { source: 'libp2p', detail: string }
  /** A message on a db topic that our gossipsub validator rejected (see ./topic-validator.ts) */
  | { source: 'pubsub', kind: TopicRejection, detail: string }

/** Notices of one kind logged in full before only every power of ten is */
export const LOGGED_IN_FULL = 10

const MESSAGES: Array<[RegExp, OrbitDBNoticeKind]> = [
  [/is not allowed to write to the log/, 'not-allowed'],
  [/Entry's id \(.*\) doesn't match the log's id/, 'wrong-log'],
  [/Could not validate signature for entry/, 'bad-signature'],
  [/Invalid Log entry|Entry doesn't have a (?:key|signature)|Could not decrypt (?:entry|payload)/, 'invalid-entry'],
  [/^Error: ENOENT: no such file or directory$/, 'keystore']
]
const ORBITDB_FILE = /node_modules[\\/]@orbitdb[\\/]core[\\/]/
const LIBP2P_FILE = /node_modules[\\/](?:libp2p|helia|@libp2p[\\/][^\\/]+|@helia[\\/][^\\/]+|@chainsafe[\\/]libp2p-[^\\/]+)[\\/]/
/** Frames of functions that only forward a console call (other filters, spies, Node's console) */
const FORWARDER = /^(?:async )?(?:\S+\.)?(?:error|warn)(?: \[as \w+\])?$|\bnode:internal\/console\b|[\\/](?:tinyspy|@vitest[\\/]spy)[\\/]/
const STATE = Symbol.for('@npp/transport/console-filter')

interface FilterState {
  counts: ProcessCounts
  listeners: Set<(notice: Notice) => void>
}

const orbitLog = logger('orbitdb:console')
const libp2pLog = logger('libp2p:console')
const topicLog = logger('orbitdb:topic')

function state (): FilterState | undefined {
  return (globalThis as { [STATE]?: FilterState })[STATE]
}

function freshCounts (): ProcessCounts {
  const orbitdb = { 'not-allowed': 0, 'wrong-log': 0, 'bad-signature': 0, 'invalid-entry': 0, keystore: 0, 'sync-error': 0, other: 0 }
  const rejectedOnTopics = { 'too-large': 0, undecodable: 0, 'wrong-log': 0, 'unknown-identity': 0, 'not-a-writer': 0, 'bad-identity': 0, 'key-mismatch': 0 }
  return { orbitdb, libp2p: 0, refusedEntries: 0, rejectedOnTopics }
}

/** One line of text for the log: messages of errors, strings as they are */
function describe (args: unknown[]): string {
  return args.map((a) => a instanceof Error ? a.message : typeof a === 'string' ? a : inspect(a, { depth: 2, breakLength: Infinity })).join(' ').replace(/\s+/g, ' ').trim().slice(0, 500)
}

/**
 * Where the function that called the filter lives: the first frame of `stack`
 * (captured from the filter's caller on) that does not only forward the call
 */
function callerFile (stack: string | undefined): string | undefined {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const frame = /^\s*at (?:(.*?) \((.*)\)|(.*))$/.exec(line)
    if (frame == null) continue
    const name = frame[1] ?? ''
    const location = frame[2] ?? frame[3] ?? ''
    if (FORWARDER.test(name) || FORWARDER.test(location)) continue
    return location
  }
  return undefined
}

/** The call stack from `fn`'s caller on, or undefined where V8's API is missing */
function stackAbove (fn: (...args: never[]) => unknown): string | undefined {
  if (typeof Error.captureStackTrace !== 'function') return undefined
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 16
  const holder: { stack?: string } = {}
  Error.captureStackTrace(holder, fn)
  Error.stackTraceLimit = limit
  return holder.stack
}

/** Which library made this console call (`stack` starts at its caller), if it is one we route */
function classify (args: unknown[], stack: string | undefined): Notice | undefined {
  const file = callerFile(stack)
  const kindOf = (text: string): OrbitDBNoticeKind | undefined => MESSAGES.find(([pattern]) => pattern.test(text))?.[1]
  if (file != null && ORBITDB_FILE.test(file)) {
    const detail = describe(args)
    return { source: 'orbitdb', kind: kindOf(detail) ?? 'other', detail }
  }
  if (file != null && LIBP2P_FILE.test(file)) return { source: 'libp2p', detail: describe(args) }
  // no call stack to read (an engine without V8's API): OrbitDB's refusals are recognisable by their text alone
  if (stack == null && args.length === 1 && args[0] instanceof Error) {
    const detail = describe(args)
    const kind = kindOf(detail)
    if (kind != null && kind !== 'keystore') return { source: 'orbitdb', kind, detail }
  }
  return undefined
}

/** Log a notice: the first {@link LOGGED_IN_FULL} of its kind, then one per power of ten */
function logNotice (notice: Notice, count: number): void {
  const log = notice.source === 'orbitdb' ? orbitLog : notice.source === 'pubsub' ? topicLog : libp2pLog
  const kind = notice.source === 'libp2p' ? 'console' : notice.kind
  if (count <= LOGGED_IN_FULL) {
    log.error('%s #%d: %s', kind, count, notice.detail)
  } else if (Number.isInteger(Math.log10(count))) {
    log.error('%s #%d (logging only every power of ten): %s', kind, count, notice.detail)
  }
}

/**
 * Count a notice, log it and tell the listeners. Also what the OrbitDB facade
 * calls for `db.events` errors (`sync-error`), so all of OrbitDB's reports are
 * counted and logged the same way. Installs the filter if needed.
 */
export function reportNotice (notice: Notice): void {
  const current = state() ?? installConsoleFilter()
  const { counts } = current
  let count: number
  if (notice.source === 'orbitdb') {
    count = ++counts.orbitdb[notice.kind]
    if ((REFUSALS as readonly string[]).includes(notice.kind)) counts.refusedEntries++
  } else if (notice.source === 'pubsub') {
    count = ++counts.rejectedOnTopics[notice.kind]
  } else {
    count = ++counts.libp2p
  }
  logNotice(notice, count)
  for (const listener of current.listeners) {
    try { listener(notice) } catch { /* a listener's failure is its own */ }
  }
}

/** `next` (a console method) behind the filter: what {@link classify} recognises is reported instead */
function filtering (next: (...args: unknown[]) => void, name: 'error' | 'warn'): (...args: unknown[]) => void {
  const filtered = function (this: unknown, ...args: unknown[]): void {
    let notice: Notice | undefined
    try {
      notice = classify(args, stackAbove(filtered))
    } catch {
      notice = undefined // whatever the filter cannot read is passed through
    }
    if (notice == null) next.apply(this, args)
    else reportNotice(notice)
  }
  Object.defineProperty(filtered, 'name', { value: name })
  return filtered
}

/**
 * Put the filter in front of `console.error` and `console.warn`, once per
 * process (a second call, from this or another copy of this module, does
 * nothing). Returns the process's filter state.
 */
export function installConsoleFilter (): FilterState {
  const existing = state()
  if (existing != null) return existing
  const installed: FilterState = { counts: freshCounts(), listeners: new Set() }
  ;(globalThis as { [STATE]?: FilterState })[STATE] = installed
  console.error = filtering(console.error, 'error')
  console.warn = filtering(console.warn, 'warn')
  return installed
}

/** A copy of the counts so far (all zero before the filter is installed) */
export function consoleCounts (): ProcessCounts {
  const counts = state()?.counts ?? freshCounts()
  return { orbitdb: { ...counts.orbitdb }, libp2p: counts.libp2p, refusedEntries: counts.refusedEntries, rejectedOnTopics: { ...counts.rejectedOnTopics } }
}

/**
 * Call `listener` with every notice from now on (OrbitDB's refusals and sync errors,
 * libp2p's console calls, messages our db-topic validators rejected), process-wide;
 * returns the unsubscribe function
 *
 * @example
 * ```ts
 * const off = onNotice((n) => { if (n.source === 'pubsub') console.log('rejected on a db topic:', n.kind) })
 * ```
 */
export function onNotice (listener: (notice: Notice) => void): () => void {
  const { listeners } = state() ?? installConsoleFilter()
  listeners.add(listener)
  return () => { listeners.delete(listener) }
}
