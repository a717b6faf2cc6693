/**
 * @packageDocumentation
 *
 * Helpers shared by the tests and benchmarks of New Piece, Please!: temporary
 * repo folders, cleanups run in reverse, a process driven with JSON lines (a
 * peer in its own OS process reports events on stdout and takes commands on
 * stdin), the one peer script run that way ({@link peerProcessScript}), and
 * percentiles for benchmark output.
 *
 * @example
 * ```ts
 * import { Cleanups, JsonLinesChild, tempDir } from '@npp/testkit'
 *
 * const cleanups = new Cleanups()
 * const repo = await tempDir(cleanups, 'alice')
 * const child = new JsonLinesChild('./fixtures/peer.mjs', [repo])
 * cleanups.add(async () => { await child.kill() })
 * const ready = await child.next('ready')
 * child.command({ cmd: 'connect', addr: '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...' })
 * await cleanups.run()
 * ```
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/** Collects async cleanups; `run()` runs them in reverse order of `add()` */
export class Cleanups {
  private readonly fns: Array<() => Promise<void>> = []
  add (fn: () => Promise<void>): void { this.fns.push(fn) }
  async run (): Promise<void> {
    const errors: unknown[] = []
    for (const fn of this.fns.splice(0).reverse()) {
      try { await fn() } catch (err) { errors.push(err) }
    }
    if (errors.length > 0) throw errors[0]
  }
}

/** A fresh temporary folder (e.g. a peer's repo), removed when `cleanups` run */
export async function tempDir (cleanups: Cleanups, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `npp-${name}-`))
  cleanups.add(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** One line a child printed: `{ "event": "ready", ... }` */
export interface ChildEvent { event: string, [key: string]: unknown }

export interface JsonLinesChildOptions {
  /** Name used in error messages (default: the script's file name) */
  name?: string
  env?: NodeJS.ProcessEnv
  /** Print the child's stderr on ours (default true) */
  echoStderr?: boolean
  /** Called for every event, e.g. to log errors */
  onEvent?: (event: ChildEvent) => void
}

type Match = (event: ChildEvent) => boolean

/**
 * A Node script in its own OS process (run with this process's Node), that
 * prints one JSON object per line on stdout and reads commands as JSON lines
 * on stdin. Lines that are not JSON are passed through to stderr.
 */
export class JsonLinesChild {
  readonly child: ChildProcessWithoutNullStreams
  /** Every event seen so far, in order (`take()` removes what it returns) */
  readonly events: ChildEvent[] = []
  /** Resolves with the exit code (null when killed by a signal) */
  readonly exited: Promise<number | null>
  readonly name: string
  private readonly waiters: Array<{ match: Match, consume: boolean, resolve: (e: ChildEvent) => void }> = []

  constructor (script: string, args: string[] = [], options: JsonLinesChildOptions = {}) {
    this.name = options.name ?? script.split('/').pop() ?? script
    this.child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env })
    if (options.echoStderr !== false) this.child.stderr.on('data', (d: Buffer) => { process.stderr.write(d) })
    this.exited = new Promise((resolve) => { this.child.on('exit', (code) => { resolve(code) }) })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let event: ChildEvent
      try {
        event = JSON.parse(line) as ChildEvent
      } catch {
        process.stderr.write(`${this.name}: ${line}\n`)
        return
      }
      options.onEvent?.(event)
      let consumed = false
      for (const w of [...this.waiters]) {
        if (!w.match(event) || (consumed && w.consume)) continue
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(event)
        if (w.consume) consumed = true
      }
      if (!consumed) this.events.push(event)
    })
  }

  private wait (event: string, predicate: Match, timeoutMs: number, consume: boolean): Promise<ChildEvent> {
    const match: Match = (e) => e.event === event && predicate(e)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        reject(new Error(`${this.name} did not report "${event}" within ${timeoutMs} ms`))
      }, timeoutMs)
      const waiter = { match, consume, resolve: (e: ChildEvent) => { clearTimeout(timer); resolve(e) } }
      this.waiters.push(waiter)
    })
  }

  /** The first matching event, seen already or still to come */
  async next (event: string, predicate: Match = () => true, timeoutMs = 20_000): Promise<ChildEvent> {
    const seen = this.events.find((e) => e.event === event && predicate(e))
    return seen ?? await this.wait(event, predicate, timeoutMs, false)
  }

  /** The next matching event still to come, ignoring those seen already */
  async upcoming (event: string, predicate: Match = () => true, timeoutMs = 20_000): Promise<ChildEvent> {
    return await this.wait(event, predicate, timeoutMs, false)
  }

  /** Like `next()`, but removes the event, so each one is taken once (for rounds of a benchmark) */
  async take (event: string, predicate: Match = () => true, timeoutMs = 20_000): Promise<ChildEvent> {
    const index = this.events.findIndex((e) => e.event === event && predicate(e))
    if (index >= 0) return this.events.splice(index, 1)[0]!
    return await this.wait(event, predicate, timeoutMs, true)
  }

  command (cmd: Record<string, unknown>): void {
    this.child.stdin.write(JSON.stringify(cmd) + '\n')
  }

  get running (): boolean {
    return this.child.exitCode == null && this.child.signalCode == null
  }

  /** Kill the process (SIGKILL by default) and wait until it is gone */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return
    this.child.kill(signal)
    await this.exited
  }

  /** Send a stop command and wait for the exit; SIGKILL after `graceMs` */
  async stop (cmd: Record<string, unknown> = { cmd: 'stop' }, graceMs = 30_000): Promise<number | null> {
    if (!this.running) return await this.exited
    this.command(cmd)
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, graceMs)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }
}

/**
 * Path of the one peer script of the companions tests and the discovery and
 * reconnect benchmarks: a full peer (transport, catalog, companions, discovery) in its
 * own OS process, driven with JSON lines (its header lists the commands and
 * what it prints). Arguments: `[repo, JSON.stringify(options)]`, both optional.
 * It runs the workspace's built packages (peer dependencies of this one).
 *
 * @example
 * ```ts
 * const peer = new JsonLinesChild(peerProcessScript, [repo, JSON.stringify({ backoff: { initialMs: 500 } })])
 * const ready = await peer.next('ready') // { peerId, multiaddrs, userDb }
 * ```
 */
export const peerProcessScript: string = fileURLToPath(new URL('../fixtures/peer-process.mjs', import.meta.url))

/** The options argument of {@link peerProcessScript} (as JSON) */
export interface PeerProcessOptions {
  /** `createCompanions()`'s backoff */
  backoff?: { initialMs?: number, maxMs?: number, factor?: number, jitter?: number }
  /** More options of `createDiscovery()` */
  discovery?: Record<string, unknown>
  /** `createCatalog()`'s profile fixture, e.g. `{ username: 'alice' }` */
  profile?: Record<string, unknown>
  /** `createTransport()`'s listen addresses */
  listen?: string[]
}

/** Bytes of every file under `dir` (what a repo takes on disk, as `du -b` counts file sizes) */
export async function diskUsage (dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  const sizes = await Promise.all(entries.filter((e) => e.isFile()).map(async (e) => (await stat(join(e.parentPath, e.name))).size))
  return sizes.reduce((sum, n) => sum + n, 0)
}

/** Nearest-rank percentile, `p` in [0, 1] */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/** Round for JSON output */
export function round (value: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** A debug logger shaped like libp2p's `Logger` that keeps every line it is given */
export interface RecordingLogger {
  (formatter: unknown, ...args: unknown[]): void
  enabled: boolean
  error: (formatter: unknown, ...args: unknown[]) => void
  trace: (formatter: unknown, ...args: unknown[]) => void
  newScope: (name: string) => RecordingLogger
  /** Every call: the format string and its arguments (`error`/`trace` lines start with that word) */
  lines: unknown[][]
}

/** A logger for `init.logger` of a package that records instead of printing */
export function recordingLogger (lines: unknown[][] = []): RecordingLogger {
  const log = (...args: unknown[]): void => { lines.push(args) }
  return Object.assign(log, {
    lines,
    enabled: true,
    error: (...args: unknown[]): void => { lines.push(['error', ...args]) },
    trace: (...args: unknown[]): void => { lines.push(['trace', ...args]) },
    newScope: (): RecordingLogger => recordingLogger(lines)
  })
}
