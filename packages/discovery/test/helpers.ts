import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { tempDir } from '@npp/testkit'
import { createTransport } from '@npp/transport'
import { createDiscovery } from '../src/index.js'
import type { Discovery, DiscoveryInit } from '../src/index.js'
import type { Bus, BusEvents } from '@npp/bus'
import type { Catalog } from '@npp/catalog'
import type { Cleanups } from '@npp/testkit'
import type { Logger, Transport } from '@npp/transport'

export { Cleanups } from '@npp/testkit'

export interface TestPeer {
  bus: Bus
  transport: Transport
  /** The catalog: it owns the profile that discovery announces */
  catalog: Catalog
  discovery: Discovery | undefined
  repo: string
  /** Every bus event, in order */
  events: Array<{ type: keyof BusEvents, event: unknown }>
}

/** No companions (discovery's tests run without the companions package) */
export const noCompanions = { has: (): boolean => false, count: (): number => 0 }

/**
 * Start a transport, a catalog (with `profile`) and discovery (unless `discovery: false`) on a
 * fresh repo on 127.0.0.1. These tests are about validation: they admit every valid peer
 * (`accept: 'all'`) unless they say otherwise; consent.test.ts tests the default.
 */
export async function startPeer (cleanups: Cleanups, name: string, options: Partial<Omit<DiscoveryInit, 'bus' | 'transport' | 'catalog'>> & { discovery?: boolean, profile?: Record<string, unknown> } = {}): Promise<TestPeer> {
  const repo = await tempDir(cleanups, name)
  const bus = createBus()
  const events: TestPeer['events'] = []
  bus.onAny((type, event) => { events.push({ type, event }) })
  const transport = createTransport({ bus, repo })
  await transport.start()
  cleanups.add(async () => { await transport.stop() })
  const { discovery: _flag, profile, ...init } = options
  const catalog = createCatalog({ bus, transport, ...(profile == null ? {} : { profile }) })
  await catalog.start()
  cleanups.add(async () => { await catalog.stop() })
  let discovery: Discovery | undefined
  if (options.discovery !== false) {
    discovery = createDiscovery({ bus, transport, catalog, companions: noCompanions, accept: 'all', ...init })
    await discovery.start()
    cleanups.add(async () => { await discovery?.stop() })
  }
  return { bus, transport, catalog, discovery, repo, events }
}

/** Events of one type seen so far */
export function seen<K extends keyof BusEvents> (peer: TestPeer, type: K): Array<BusEvents[K]> {
  return peer.events.filter((e) => e.type === type).map((e) => e.event as BusEvents[K])
}

export { recordingLogger } from '@npp/testkit'

/** A logger that drops everything (unit tests) */
export const silentLogger: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: (): Logger => silentLogger
})
