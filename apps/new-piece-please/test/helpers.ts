import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Cleanups, JsonLinesChild, tempDir } from '@npp/testkit'
import { ApiClient } from '../src/api/client.js'

export { Cleanups, tempDir }

export const BIN = fileURLToPath(new URL('../bin/npp.js', import.meta.url))

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
  event: 'started'
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

/** `npp start --json` in its own OS process, driven by its JSON lines (its `started` line) */
export class NppPeer {
  readonly stderr: string[] = []
  info!: StartInfo
  api!: ApiClient

  private constructor (readonly repo: string, readonly process: JsonLinesChild) {
    process.child.stderr.setEncoding('utf8').on('data', (d: string) => { this.stderr.push(d) })
  }

  /** Resolves with the exit code (null when killed by a signal) */
  get exited (): Promise<number | null> { return this.process.exited }

  static async start (repo: string, args: string[] = []): Promise<NppPeer> {
    const child = new JsonLinesChild(BIN, ['start', '--repo', repo, '--json', ...args], { name: `npp start --repo ${repo}`, env: env(), echoStderr: false })
    const peer = new NppPeer(repo, child)
    const first = await Promise.race([
      child.next('started', () => true, 30_000).then((event) => ({ event }), (error: unknown) => ({ error })),
      child.exited.then((code) => ({ error: new Error(`npp start exited with ${code}: ${peer.stderr.join('')}`) }))
    ])
    if ('error' in first) {
      await child.kill()
      throw first.error
    }
    peer.info = first.event as unknown as StartInfo
    peer.api = await ApiClient.forRepo(repo)
    return peer
  }

  /** Kill it without a clean stop */
  async kill (): Promise<void> {
    await this.process.kill('SIGKILL')
  }
}

/** Resolve with the exit code of `peer` once it has exited by itself, or fail after `timeoutMs` */
export async function exitsWithin (peer: NppPeer, timeoutMs: number): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`npp start (pid ${peer.info.pid}) did not exit by itself within ${timeoutMs} ms: something keeps it alive`)) }, timeoutMs)
  })
  try {
    return await Promise.race([peer.exited, late])
  } finally {
    clearTimeout(timer)
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
