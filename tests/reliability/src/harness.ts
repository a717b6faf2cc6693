/**
 * The test side of ./child.ts: spawn a peer in its own process (optionally
 * inside a network namespace), send it commands, wait for its events, kill it.
 * Nothing here sleeps: every wait is for an event, bounded by a timeout that
 * fails with what was seen.
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildEvent, Command, PeerOptions } from './protocol.js'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/** Wall-clock ms with sub-ms precision, comparable with a child's `at` */
export const now = (): number => performance.timeOrigin + performance.now()

export interface SpawnOptions {
  /** A name for messages */
  name: string
  repo: string
  options?: PeerOptions
  /** Run inside this network namespace (`ip netns exec`) */
  netns?: string
  /** Extra Node flags, e.g. `--expose-gc` */
  nodeFlags?: string[]
  /** Extra environment variables (on top of ours) */
  env?: Record<string, string>
  /** Called with every event as it arrives */
  onEvent?: (event: ChildEvent) => void
  /** Pass the child's stderr through to ours (default true) */
  stderr?: boolean
}

export interface Ready extends ChildEvent {
  pid: number
  peerId: string
  multiaddrs: string[]
  userDb: string
  pieces: string
  companionsDb: string
  /** The peer's OrbitDB identity */
  identity: { id: string, hash: string, publicKey: string }
}

type Reply<T> = { ok: true, result: T } | { ok: false, error: { name: string, message: string } }

const here = fileURLToPath(import.meta.url)
/** Path of the compiled child script (dist/child.js, also when this file runs from src/ under vitest) */
export const CHILD_SCRIPT = here.endsWith('.ts') ? join(dirname(here), '..', 'dist', 'child.js') : join(dirname(here), 'child.js')

export class ChildPeer {
  readonly name: string
  readonly process: ChildProcessWithoutNullStreams
  /** Every event so far, in order */
  readonly events: ChildEvent[] = []
  /** Resolves with the exit code (null when killed by a signal) and the signal */
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  ready!: Ready
  private readonly waiters = new Set<(e: ChildEvent) => void>()
  private readonly replies = new Map<number, (reply: Reply<unknown>) => void>()
  private nextId = 1
  private stderrTail = ''
  private exitInfo: { code: number | null, signal: NodeJS.Signals | null } | undefined

  private constructor (init: SpawnOptions) {
    this.name = init.name
    const args = [...(init.nodeFlags ?? []), CHILD_SCRIPT, init.repo, JSON.stringify(init.options ?? {})]
    const env = { ...process.env, ...init.env }
    this.process = init.netns == null
      ? spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env })
      : spawn('ip', ['netns', 'exec', init.netns, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env })
    this.process.stdin.on('error', () => {}) // writing to a killed child
    this.process.stderr.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000)
      if (init.stderr !== false) process.stderr.write(`[${this.name}] ${d.toString()}`)
    })
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        resolve(this.exitInfo)
        for (const w of [...this.waiters]) w({ event: 'exit', at: now(), code, signal })
        for (const [id, r] of this.replies) {
          this.replies.delete(id)
          r({ ok: false, error: { name: 'ChildExitedError', message: `${this.name} exited (${signal ?? code}) before replying` } })
        }
      })
    })
    createInterface({ input: this.process.stdout }).on('line', (line) => {
      let event: ChildEvent
      try {
        event = JSON.parse(line) as ChildEvent
      } catch {
        process.stderr.write(`[${this.name}] (not JSON) ${line}\n`)
        return
      }
      this.events.push(event)
      init.onEvent?.(event)
      if (event.event === 'reply') {
        const id = event.id as number
        const r = this.replies.get(id)
        this.replies.delete(id)
        r?.(event as unknown as Reply<unknown>)
      }
      for (const w of [...this.waiters]) w(event)
    })
  }

  /** Spawn a peer and wait until it is ready (its repo opened, every package started) */
  static async start (init: SpawnOptions, timeoutMs = 60_000): Promise<ChildPeer> {
    const peer = new ChildPeer(init)
    try {
      peer.ready = await peer.waitFor((e) => e.event === 'ready', { timeoutMs, what: 'ready' }) as Ready
    } catch (err) {
      await peer.kill()
      throw err
    }
    return peer
  }

  get peerId (): string { return this.ready.peerId }
  get alive (): boolean { return this.exitInfo == null }
  /** Our current TCP listen address (with /p2p/) */
  get address (): string { return this.ready.multiaddrs.find((a) => a.includes('/tcp/') && !a.includes('/ws'))! }
  /** The index the next event will get: pass it as `since` to wait only for later events */
  mark (): number { return this.events.length }

  /**
   * The first event matching `match` at or after index `since` (default: only events
   * from now on); fails after `timeoutMs`, or when the child exits first.
   */
  async waitFor (match: (e: ChildEvent) => boolean, opts: { since?: number, timeoutMs?: number, what?: string } = {}): Promise<ChildEvent> {
    const timeoutMs = opts.timeoutMs ?? 30_000
    const since = opts.since ?? this.events.length
    for (let i = since; i < this.events.length; i++) if (match(this.events[i]!)) return this.events[i]!
    if (this.exitInfo != null) throw new Error(`${this.name} exited (${this.exitInfo.signal ?? this.exitInfo.code}) before ${opts.what ?? 'the event'}${this.stderrHint()}`)
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`${this.name}: no ${opts.what ?? 'matching event'} within ${timeoutMs} ms`))
      }, timeoutMs)
      const waiter = (e: ChildEvent): void => {
        if (e.event === 'exit') {
          clearTimeout(timer)
          this.waiters.delete(waiter)
          reject(new Error(`${this.name} exited (${String(e.signal ?? e.code)}) before ${opts.what ?? 'the event'}${this.stderrHint()}`))
        } else if (match(e)) {
          clearTimeout(timer)
          this.waiters.delete(waiter)
          resolve(e)
        }
      }
      this.waiters.add(waiter)
    })
  }

  /** Wait for a bus event of this type (and predicate) */
  async next (event: string, predicate: (e: ChildEvent) => boolean = () => true, opts: { since?: number, timeoutMs?: number } = {}): Promise<ChildEvent> {
    return await this.waitFor((e) => e.event === event && predicate(e), { ...opts, what: `"${event}"` })
  }

  /** Send a command and wait for its reply; a failed command rejects with the child's error */
  async request<T = Record<string, unknown>> (command: Command, timeoutMs = 60_000): Promise<T> {
    if (this.exitInfo != null) throw new Error(`${this.name} has exited; cannot ${command.cmd}`)
    const id = this.nextId++
    const reply = new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(id)
        reject(new Error(`${this.name}: no reply to ${command.cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.replies.set(id, (r) => { clearTimeout(timer); resolve(r as Reply<T>) })
    })
    this.process.stdin.write(JSON.stringify({ ...command, id }) + '\n')
    const r = await reply
    if (!r.ok) {
      const err = new Error(`${this.name}: ${command.cmd} failed: ${r.error.name}: ${r.error.message}`)
      err.name = r.error.name
      throw err
    }
    return r.result
  }

  /** Send a command without waiting for its reply */
  send (command: Command): void {
    this.process.stdin.write(JSON.stringify({ ...command, id: this.nextId++ }) + '\n')
  }

  /** SIGKILL, and wait until it is gone */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exitInfo == null) this.process.kill(signal)
    await this.exited
  }

  /** Stop gracefully (bounded), then wait for the exit; kills it if it does not stop in time. Resolves with the exit code. */
  async stop (timeoutMs = 30_000): Promise<number | null> {
    if (this.exitInfo == null) {
      try {
        await this.request({ cmd: 'stop' }, timeoutMs)
      } catch {
        await this.kill()
      }
    }
    return (await this.exited).code
  }

  stderr (): string { return this.stderrTail }

  private stderrHint (): string {
    return this.stderrTail.length > 0 ? `; stderr:\n${this.stderrTail.slice(-1500)}` : ''
  }
}

/** Count a child's events of one type (and predicate) from `since` on */
export function count (peer: ChildPeer, event: string, predicate: (e: ChildEvent) => boolean = () => true, since = 0): number {
  let n = 0
  for (let i = since; i < peer.events.length; i++) {
    const e = peer.events[i]!
    if (e.event === event && predicate(e)) n++
  }
  return n
}
