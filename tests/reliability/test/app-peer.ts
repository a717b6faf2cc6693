/**
 * The real app as a user runs it: `npp start --json` in its own process (from
 * apps/new-piece-please, built), its bus events through the control API's
 * server-sent events, and `npp <command>` runs against it.
 */
import { execFile, spawn } from 'node:child_process'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/** The app's `npp` command */
export const NPP_BIN = fileURLToPath(new URL('../../../apps/new-piece-please/bin/npp.js', import.meta.url))
const NPP_MAIN = fileURLToPath(new URL('../../../apps/new-piece-please/dist/cli/main.js', import.meta.url))

/** No inherited repo, no debug logs (they go to stderr, but keep runs alike) */
function env (): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NPP_REPO: '' }
  delete e.LOG
  delete e.DEBUG
  return e
}

export interface CliResult { code: number, stdout: string, stderr: string }

/** Run one `npp` command to its end (bounded: a command that hangs fails with what it printed) */
export async function npp (args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [NPP_BIN, ...args], { env: env(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr: err != null && err.killed ? `${stderr}\n(killed: no end within ${timeoutMs} ms)` : stderr })
    })
  })
}

export interface BusMessage { type: string, payload: Record<string, unknown> }

export class AppPeer {
  readonly bus: BusMessage[] = []
  private readonly waiters = new Set<() => void>()
  private readonly events = new AbortController()
  private stderrTail = ''
  private exitCode: number | null | undefined

  private constructor (
    readonly repo: string,
    readonly process: ChildProcessWithoutNullStreams,
    readonly info: { peerId: string, multiaddrs: string[], userDb: string, api: string }
  ) {}

  /** `npp start --repo <repo> --json`; resolves once it printed `started` and its event stream is open */
  static async start (repo: string, args: string[] = [], timeoutMs = 60_000): Promise<AppPeer> {
    try {
      await access(NPP_MAIN)
    } catch {
      throw new Error('apps/new-piece-please/dist is missing: run `pnpm build` at the root first (`pnpm test` and `pnpm test:hostile` build it)')
    }
    const child = spawn(process.execPath, [NPP_BIN, 'start', '--repo', repo, '--json', ...args], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000) })
    const started = await new Promise<AppPeer['info']>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`npp start: no "started" line within ${timeoutMs} ms; stderr: ${stderr}`)) }, timeoutMs)
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`npp start exited (${String(code)}) before "started"; stderr: ${stderr}`)) })
      createInterface({ input: child.stdout }).on('line', (line) => {
        let parsed: { event?: string } & AppPeer['info']
        try { parsed = JSON.parse(line) as typeof parsed } catch { return }
        if (parsed.event !== 'started') return
        clearTimeout(timer)
        resolve(parsed)
      })
    })
    const peer = new AppPeer(repo, child, started)
    child.stderr.on('data', (d: string) => { peer.stderrTail = (peer.stderrTail + d).slice(-4000) })
    peer.stderrTail = stderr
    child.on('exit', (code) => { peer.exitCode = code; for (const w of [...peer.waiters]) w() })
    await peer.follow()
    return peer
  }

  /** The TCP listen address (with /p2p/) */
  get address (): string { return this.info.multiaddrs.find((a) => a.includes('/tcp/') && !a.includes('/ws'))! }

  /** Read `/api/events` (server-sent events) into {@link bus}; resolves once `hello` arrived */
  private async follow (): Promise<void> {
    const token = (await readFile(join(this.repo, 'api.token'), 'utf8')).trim()
    const response = await fetch(`${this.info.api}/api/events`, { headers: { Authorization: `Bearer ${token}` }, signal: this.events.signal })
    if (!response.ok || response.body == null) throw new Error(`GET /api/events answered HTTP ${response.status}`)
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    let hello!: () => void
    const opened = new Promise<void>((resolve) => { hello = resolve })
    void (async () => {
      let buffer = ''
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buffer += value
          let end: number
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const lines = block.split('\n')
            const event = lines.find((l) => l.startsWith('event:'))?.slice(6).trim()
            const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n')
            if (event === 'hello') hello()
            if (event !== 'bus') continue
            this.bus.push(JSON.parse(data) as BusMessage)
            for (const w of [...this.waiters]) w()
          }
        }
      } catch {
        // aborted: we stopped following
      }
    })()
    await opened
  }

  /** The first bus event of this type (and predicate) seen so far or from now on; fails after `timeoutMs` with `what` */
  async waitFor (type: string, predicate: (payload: Record<string, unknown>) => boolean, what: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const find = (): Record<string, unknown> | undefined => this.bus.find((e) => e.type === type && predicate(e.payload))?.payload
    const hit = find()
    if (hit != null) return hit
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(check); reject(new Error(`the app: no ${what} within ${timeoutMs} ms (seen: ${[...new Set(this.bus.map((e) => e.type))].join(', ')})`)) }, timeoutMs)
      const check = (): void => {
        if (this.exitCode !== undefined) {
          clearTimeout(timer)
          this.waiters.delete(check)
          reject(new Error(`the app exited (${String(this.exitCode)}) before ${what}; stderr: ${this.stderrTail}`))
          return
        }
        const found = find()
        if (found == null) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve(found)
      }
      this.waiters.add(check)
    })
  }

  /** `npp stop` (a clean stop), then wait for the exit; SIGKILL if it does not stop. Resolves with the exit code */
  async stop (): Promise<number | null> {
    this.events.abort()
    if (this.exitCode !== undefined) return this.exitCode
    const exited = new Promise<number | null>((resolve) => { this.process.once('exit', (code) => { resolve(code) }) })
    const stopped = await npp(['stop', '--repo', this.repo])
    if (stopped.code !== 0) this.process.kill('SIGKILL')
    return await exited
  }

  async kill (): Promise<void> {
    this.events.abort()
    if (this.exitCode !== undefined) return
    const exited = new Promise<void>((resolve) => { this.process.once('exit', () => { resolve() }) })
    this.process.kill('SIGKILL')
    await exited
  }
}
