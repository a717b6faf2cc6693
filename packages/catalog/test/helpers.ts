import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { createBus } from '@npp/bus'
import { Cleanups, tempDir } from '@npp/testkit'
import { KeyValue, OWN_DATABASES, createTransport, openOwnDatabase } from '@npp/transport'
import { createCatalog } from '../src/index.js'
import type { Catalog, CatalogInit } from '../src/index.js'
import type { Bus, BusEvents, CompanionProfile } from '@npp/bus'
import type { Transport } from '@npp/transport'

/** Cleanups of the running test, run (in reverse) by the test file's afterEach */
export const cleanups = new Cleanups()

export async function runCleanups (): Promise<void> {
  await cleanups.run()
}

/** A fresh temporary folder, removed after the test */
export async function tempRepo (name: string): Promise<string> {
  return await tempDir(cleanups, `catalog-${name}`)
}

export interface TestPeer {
  name: string
  repo: string
  bus: Bus
  transport: Transport
  catalog: Catalog
}

/** A transport on 127.0.0.1 with a started catalog, stopped after the test */
export async function startPeer (name: string, options: { repo?: string, identityId?: string, catalog?: Partial<CatalogInit> } = {}): Promise<TestPeer> {
  const repo = options.repo ?? await tempRepo(name)
  const bus = createBus()
  const transport = createTransport({ bus, repo, identityId: options.identityId })
  const catalog = createCatalog({ bus, transport, ...options.catalog })
  await transport.start()
  cleanups.add(async () => { await transport.stop() })
  await catalog.start()
  cleanups.add(async () => { await catalog.stop() })
  return { name, repo, bus, transport, catalog }
}

/** The profile discovery would record for `peer` (its real user db address) */
export async function profileOf (peer: TestPeer): Promise<CompanionProfile> {
  const user = await openOwnDatabase(peer.transport.orbitdb, OWN_DATABASES.user, KeyValue())
  return { userDb: user.address, username: peer.name, pieces: peer.catalog.piecesAddress, nodeId: peer.transport.peerId }
}

/** Connect `a` to `b` and tell a's catalog that b is a companion, as discovery would */
export async function befriend (a: TestPeer, b: TestPeer): Promise<CompanionProfile> {
  await a.transport.connect(b.transport.multiaddrs[0]!)
  const profile = await profileOf(b)
  a.bus.emit('companion:discovered', { profile, multiaddrs: b.transport.multiaddrs })
  return profile
}

/** Wait for a bus event, failing the test after `timeoutMs` */
export async function next<K extends keyof BusEvents> (bus: Bus, type: K, predicate?: (e: BusEvents[K]) => boolean, timeoutMs = 15_000): Promise<BusEvents[K]> {
  return await bus.waitFor(type, predicate, { timeoutMs })
}

/** A valid CID string for test pieces (raw codec, sha2-256 of `seed`) */
export async function cidOf (seed: string): Promise<string> {
  const { CID } = await import('multiformats/cid')
  const { sha256 } = await import('multiformats/hashes/sha2')
  return CID.create(1, 0x55, await sha256.digest(new TextEncoder().encode(seed))).toString()
}

/** Copy the OrbitDB keystore of a (stopped) repo into another repo: a second device of the same owner */
export async function copyKeystore (from: string, to: string): Promise<void> {
  await cp(join(from, 'orbitdb', 'keystore'), join(to, 'orbitdb', 'keystore'), { recursive: true })
}

/** Resolve once `peerId` is known to be subscribed to `topic` (event-driven, fails after `timeoutMs`) */
export async function subscribed (pubsub: Transport['libp2p']['services']['pubsub'], topic: string, peerId: string, timeoutMs = 10_000): Promise<void> {
  const has = (): boolean => pubsub.getSubscribers(topic).some((p) => p.toString() === peerId)
  if (has()) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { done(); reject(new Error(`${peerId} did not subscribe to ${topic} within ${timeoutMs} ms`)) }, timeoutMs)
    const onChange = (): void => { if (has()) { done(); resolve() } }
    const done = (): void => { clearTimeout(timer); pubsub.removeEventListener('subscription-change', onChange) }
    pubsub.addEventListener('subscription-change', onChange)
  })
}
