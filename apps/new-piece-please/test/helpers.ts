import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ApiClient } from '../src/api/client.js'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

export const BIN = fileURLToPath(new URL('../bin/npp.js', import.meta.url))

/** A fresh temporary folder, removed by the returned cleanup */
export async function tempDir (name: string): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `npp-app-${name}-`))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** The environment of every child: no inherited repo, no CI spinner logic surprises */
function env (): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NPP_REPO: '' }
  delete e.LOG
  return e
}

export interface CliResult { code: number, stdout: string, stderr: string }

/** Run one `npp` command to its end */
export async function npp (args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: env(), timeout: options.timeoutMs ?? 30_000, maxBuffer: 10 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

export interface StartInfo {
  peerId: string
  multiaddrs: string[]
  userDb: string
  pieces: string
  repo: string
  pid: number
  api: string
  dashboard: string
  inspector: string
}

/** `npp start --json` in its own OS process */
export class NppPeer {
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<number | null>
  readonly stderr: string[] = []
  info!: StartInfo
  api!: ApiClient

  private constructor (readonly repo: string, args: string[]) {
    this.child = spawn(process.execPath, [BIN, 'start', '--repo', repo, '--json', ...args], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => { this.stderr.push(d) })
    this.exited = new Promise((resolve) => { this.child.once('exit', (code) => { resolve(code) }) })
  }

  static async start (repo: string, args: string[] = []): Promise<NppPeer> {
    const peer = new NppPeer(repo, args)
    const lines = createInterface({ input: peer.child.stdout })
    peer.info = await new Promise<StartInfo>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`npp start did not report within 30 s: ${peer.stderr.join('')}`)) }, 30_000)
      lines.once('line', (line) => { clearTimeout(timer); resolve(JSON.parse(line) as StartInfo) })
      void peer.exited.then((code) => { clearTimeout(timer); reject(new Error(`npp start exited with ${code}: ${peer.stderr.join('')}`)) })
    })
    peer.api = await ApiClient.forRepo(repo)
    return peer
  }

  /** Stop it cleanly (SIGTERM, like Ctrl-C) and wait for the exit code */
  async stop (): Promise<number | null> {
    if (this.child.exitCode == null && this.child.signalCode == null) this.child.kill('SIGTERM')
    return await this.exited
  }

  /** Kill it without a clean stop */
  async kill (): Promise<void> {
    if (this.child.exitCode == null && this.child.signalCode == null) this.child.kill('SIGKILL')
    await this.exited
  }
}

/**
 * Follow a peer's bus events (server-sent events of its control API) and wait for
 * one that matches. Resolves once the stream is open.
 */
export async function followBus (api: ApiClient): Promise<{
  waitFor: (type: string, predicate?: (payload: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>
  close: () => void
}> {
  const controller = new AbortController()
  const seen: Array<{ type: string, payload: Record<string, unknown> }> = []
  const waiters: Array<() => void> = []
  let opened!: () => void
  const open = new Promise<void>((resolve) => { opened = resolve })
  void (async () => {
    try {
      for await (const { event, data } of api.events({ signal: controller.signal })) {
        if (event === 'hello') opened()
        if (event !== 'bus') continue
        seen.push(data as { type: string, payload: Record<string, unknown> })
        for (const w of waiters.splice(0)) w()
      }
    } catch {
      // closed
    }
  })()
  await open
  return {
    async waitFor (type, predicate = () => true, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const hit = seen.find((e) => e.type === type && predicate(e.payload))
        if (hit != null) return hit.payload
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no "${type}" bus event within ${timeoutMs} ms`)
        let timer: ReturnType<typeof setTimeout> | undefined
        await Promise.race([
          new Promise<void>((resolve) => { waiters.push(resolve) }),
          new Promise<void>((resolve) => { timer = setTimeout(resolve, left) })
        ])
        clearTimeout(timer)
      }
    },
    close () { controller.abort() }
  }
}
