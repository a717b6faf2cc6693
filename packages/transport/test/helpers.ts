import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/** A fresh temporary folder for a peer's repo, removed by the returned cleanup */
export async function tempRepo (name: string): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `npp-${name}-`))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

export interface ChildEvent { event: string, [key: string]: unknown }

/** A transport running in another OS process (test/fixtures/peer-process.mjs) */
export class PeerProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly events: ChildEvent[] = []
  private readonly waiters: Array<{ match: (e: ChildEvent) => boolean, resolve: (e: ChildEvent) => void }> = []
  readonly exited: Promise<number | null>

  constructor (repo: string) {
    const script = fileURLToPath(new URL('./fixtures/peer-process.mjs', import.meta.url))
    this.child = spawn(process.execPath, [script, repo], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.on('data', (d: Buffer) => { process.stderr.write(d) })
    this.exited = new Promise((resolve) => { this.child.on('exit', (code) => { resolve(code) }) })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as ChildEvent
      this.events.push(event)
      for (const w of [...this.waiters]) {
        if (w.match(event)) {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(event)
        }
      }
    })
  }

  async next (event: string, predicate: (e: ChildEvent) => boolean = () => true, timeoutMs = 15_000): Promise<ChildEvent> {
    const match = (e: ChildEvent): boolean => e.event === event && predicate(e)
    const seen = this.events.find(match)
    if (seen != null) return seen
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`child did not report "${event}" within ${timeoutMs} ms`)) }, timeoutMs)
      this.waiters.push({ match, resolve: (e) => { clearTimeout(timer); resolve(e) } })
    })
  }

  command (cmd: Record<string, unknown>): void {
    this.child.stdin.write(JSON.stringify(cmd) + '\n')
  }
}
