import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChildPeer } from '../src/harness.js'
import type { SpawnOptions } from '../src/harness.js'
import type { ChildEvent } from '../src/protocol.js'

/** Children and folders of one test file, removed in afterAll/afterEach even when a test failed */
export class Resources {
  private readonly peers = new Set<ChildPeer>()
  private readonly dirs: string[] = []
  private readonly extra: Array<() => Promise<void>> = []

  async repo (name: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `npp-rel-${name}-`))
    this.dirs.push(dir)
    return dir
  }

  async start (init: SpawnOptions, timeoutMs?: number): Promise<ChildPeer> {
    const peer = await ChildPeer.start(init, timeoutMs)
    this.peers.add(peer)
    return peer
  }

  /** Kill a peer with SIGKILL (it stays listed, for cleanup of its repo) */
  async kill (peer: ChildPeer): Promise<void> {
    await peer.kill()
  }

  defer (fn: () => Promise<void>): void { this.extra.push(fn) }

  /** Kill every child still running, run deferred cleanups, remove the folders */
  async cleanup (): Promise<void> {
    await Promise.all([...this.peers].map(async (p) => { await p.kill() }))
    this.peers.clear()
    for (const fn of this.extra.splice(0).reverse()) await fn().catch((err: unknown) => { console.error('cleanup failed:', err) })
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  }
}

/** A `companion:*` (or `catalog:replicated`) event of this peer id */
export const about = (peerId: string) => (e: ChildEvent): boolean =>
  e.peerId === peerId || (e.profile as { nodeId?: string } | undefined)?.nodeId === peerId

export const round = (ms: number): number => Math.round(ms)

export function summary (values: number[]): { n: number, min: number, p50: number, max: number } {
  const sorted = [...values].sort((a, b) => a - b)
  return { n: sorted.length, min: round(sorted[0] ?? NaN), p50: round(sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN), max: round(sorted.at(-1) ?? NaN) }
}
