import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { createDiscovery } from '@npp/discovery'
import { JsonLinesChild, peerProcessScript } from '@npp/testkit'
import { createTransport } from '@npp/transport'
import { createCompanions } from '../src/index.js'
import type { Companions, CompanionsInit } from '../src/index.js'
import type { Bus, BusEvents } from '@npp/bus'
import type { Catalog } from '@npp/catalog'
import type { Discovery, DiscoveryInit } from '@npp/discovery'
import type { ChildEvent, Cleanups } from '@npp/testkit'
import type { Logger, Transport } from '@npp/transport'

export { Cleanups, tempDir } from '@npp/testkit'
export type { ChildEvent } from '@npp/testkit'

export interface PeerOptions {
  backoff?: CompanionsInit['backoff']
  discovery?: Partial<Omit<DiscoveryInit, 'bus' | 'transport' | 'catalog'>>
  /** The catalog's profile fixture (`createCatalog({ profile })`) */
  profile?: Record<string, unknown>
  /** Companions' logger (in-process peers only) */
  logger?: Logger
}

/** A full peer in this process: transport, catalog, companions and discovery on one bus */
export interface Peer {
  bus: Bus
  transport: Transport
  /** Owns our profile (`user` db) that discovery announces */
  catalog: Catalog
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
  const catalog = createCatalog({ bus, transport, ...(options.profile == null ? {} : { profile: options.profile }) })
  const companions = createCompanions({ bus, transport, backoff: options.backoff, ...(options.logger == null ? {} : { logger: options.logger }) })
  // these tests are about keeping companions: every valid peer is admitted (consent is discovery's to test)
  const discovery = createDiscovery({ bus, transport, catalog, companions, accept: 'all', ...options.discovery })
  const stop = async (): Promise<void> => {
    await discovery.stop()
    await catalog.stop()
    await companions.stop()
    await transport.stop()
  }
  cleanups.add(stop)
  // the order of the contract: transport, companions, catalog, discovery
  await transport.start()
  await companions.start()
  await catalog.start()
  await discovery.start()
  return { bus, transport, catalog, companions, discovery, repo, events, stop }
}

/** A full peer in another OS process, on `repo`, driven with JSON lines (the script shared with the benchmarks, from @npp/testkit) */
export class PeerProcess extends JsonLinesChild {
  constructor (repo: string, options: Pick<PeerOptions, 'backoff' | 'discovery' | 'profile'> = {}) {
    super(peerProcessScript, [repo, JSON.stringify(options)], { name: 'peer-process' })
  }
}

/** Start a peer process and wait until it is ready; killed at cleanup */
export async function startProcess (cleanups: Cleanups, repo: string, options: PeerOptions = {}): Promise<{ proc: PeerProcess, ready: ChildEvent }> {
  const proc = new PeerProcess(repo, options)
  cleanups.add(async () => { await proc.kill() })
  const ready = await proc.next('ready')
  return { proc, ready }
}

export { recordingLogger } from '@npp/testkit'
