import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBus } from '@npp/bus'
import { createTransport } from '@npp/transport'
import { createDiscovery } from '../src/index.js'
import type { Discovery, DiscoveryInit } from '../src/index.js'
import type { Bus, BusEvents } from '@npp/bus'
import type { Transport } from '@npp/transport'

/** A fresh temporary folder for a peer's repo, removed by the returned cleanup */
export async function tempRepo (name: string): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `npp-${name}-`))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

export interface TestPeer {
  bus: Bus
  transport: Transport
  discovery: Discovery | undefined
  repo: string
  /** Every bus event, in order */
  events: Array<{ type: keyof BusEvents, event: unknown }>
}

/** Collects cleanups; run them in reverse in afterEach */
export class Cleanups {
  private readonly fns: Array<() => Promise<void>> = []
  add (fn: () => Promise<void>): void { this.fns.push(fn) }
  async run (): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) await fn()
  }
}

/** Start a transport (and discovery unless `discovery: false`) on a fresh repo on 127.0.0.1 */
export async function startPeer (cleanups: Cleanups, name: string, options: Partial<Omit<DiscoveryInit, 'bus' | 'transport'>> & { discovery?: boolean } = {}): Promise<TestPeer> {
  const tmp = await tempRepo(name)
  cleanups.add(tmp.cleanup)
  const bus = createBus()
  const events: TestPeer['events'] = []
  bus.onAny((type, event) => { events.push({ type, event }) })
  const transport = createTransport({ bus, repo: tmp.dir })
  await transport.start()
  cleanups.add(async () => { await transport.stop() })
  let discovery: Discovery | undefined
  if (options.discovery !== false) {
    const { discovery: _flag, ...init } = options
    discovery = createDiscovery({ bus, transport, ...init })
    await discovery.start()
    cleanups.add(async () => { await discovery?.stop() })
  }
  return { bus, transport, discovery, repo: tmp.dir, events }
}

/** Events of one type seen so far */
export function seen<K extends keyof BusEvents> (peer: TestPeer, type: K): Array<BusEvents[K]> {
  return peer.events.filter((e) => e.type === type).map((e) => e.event as BusEvents[K])
}
