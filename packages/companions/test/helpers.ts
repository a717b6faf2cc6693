import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createBus } from '@npp/bus'
import { createDiscovery } from '@npp/discovery'
import { createTransport } from '@npp/transport'
import { createCompanions } from '../src/index.js'
import type { Companions, CompanionsInit } from '../src/index.js'
import type { Bus, BusEvents } from '@npp/bus'
import type { Discovery, DiscoveryInit } from '@npp/discovery'
import type { Transport } from '@npp/transport'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/** Collects cleanups; run them in reverse in afterEach */
export class Cleanups {
  private readonly fns: Array<() => Promise<void>> = []
  add (fn: () => Promise<void>): void { this.fns.push(fn) }
  async run (): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) await fn()
  }
}

/** A fresh temporary folder for a peer's repo, removed at cleanup */
export async function tempRepo (cleanups: Cleanups, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `npp-${name}-`))
  cleanups.add(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

export interface PeerOptions {
  backoff?: CompanionsInit['backoff']
  discovery?: Partial<Omit<DiscoveryInit, 'bus' | 'transport'>>
}

/** A full peer in this process: transport, companions and discovery on one bus */
export interface Peer {
  bus: Bus
  transport: Transport
  companions: Companions
  discovery: Discovery
  repo: string
  events: Array<{ type: keyof BusEvents, event: unknown }>
  stop(): Promise<void>
}

export async function startPeer (cleanups: Cleanups, repo: string, options: PeerOptions = {}): Promise<Peer> {
  const bus = createBus()
  const events: Peer['events'] = []
  bus.onAny((type, event) => { events.push({ type, event }) })
  const transport = createTransport({ bus, repo })
  const companions = createCompanions({ bus, transport, backoff: options.backoff })
  const discovery = createDiscovery({ bus, transport, ...options.discovery })
  const stop = async (): Promise<void> => {
    await discovery.stop()
    await companions.stop()
    await transport.stop()
  }
  cleanups.add(stop)
  await transport.start()
  await companions.start()
  await discovery.start()
  return { bus, transport, companions, discovery, repo, events, stop }
}

export interface ChildEvent { event: string, at: number, [key: string]: unknown }

/** A full peer in another OS process (test/fixtures/peer-process.mjs) */
export class PeerProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly events: ChildEvent[] = []
  readonly exited: Promise<number | null>
  private readonly waiters: Array<{ match: (e: ChildEvent) => boolean, resolve: (e: ChildEvent) => void }> = []

  constructor (repo: string, options: PeerOptions = {}) {
    const script = fileURLToPath(new URL('./fixtures/peer-process.mjs', import.meta.url))
    this.child = spawn(process.execPath, [script, repo, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] })
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

  /** The first event (seen before or arriving later) of that name that matches */
  async next (event: string, predicate: (e: ChildEvent) => boolean = () => true, timeoutMs = 20_000): Promise<ChildEvent> {
    const match = (e: ChildEvent): boolean => e.event === event && predicate(e)
    const seen = this.events.find(match)
    if (seen != null) return seen
    return await this.upcoming(event, predicate, timeoutMs)
  }

  /** The next event of that name that matches, ignoring those seen already */
  async upcoming (event: string, predicate: (e: ChildEvent) => boolean = () => true, timeoutMs = 20_000): Promise<ChildEvent> {
    const match = (e: ChildEvent): boolean => e.event === event && predicate(e)
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`child did not report "${event}" within ${timeoutMs} ms`)) }, timeoutMs)
      this.waiters.push({ match, resolve: (e) => { clearTimeout(timer); resolve(e) } })
    })
  }

  command (cmd: Record<string, unknown>): void {
    this.child.stdin.write(JSON.stringify(cmd) + '\n')
  }

  async kill (): Promise<void> {
    if (this.child.exitCode == null && this.child.signalCode == null) {
      this.child.kill('SIGKILL')
      await this.exited
    }
  }
}

/** Start a peer process and wait until it is ready; killed at cleanup */
export async function startProcess (cleanups: Cleanups, repo: string, options: PeerOptions = {}): Promise<{ proc: PeerProcess, ready: ChildEvent }> {
  const proc = new PeerProcess(repo, options)
  cleanups.add(async () => { await proc.kill() })
  const ready = await proc.next('ready')
  return { proc, ready }
}
