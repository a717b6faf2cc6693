import { mkdir } from 'node:fs/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bitswap } from '@helia/block-brokers'
import { libp2pRouting } from '@helia/routers'
import { Helia } from '@helia/utils'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { logger } from '@libp2p/logger'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { LevelBlockstore } from 'blockstore-level'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { reportNotice } from './console-filter.js'
import { createOrbitDB } from './orbitdb.js'
import { guardDbTopic } from './topic-validator.js'
import { loadOrCreatePeerKey, lockRepo, repoPaths } from './repo.js'
import type { Database, OrbitDB } from './orbitdb.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Ping } from '@libp2p/ping'

/** The well-known IPFS bootstrap peers; used only with `bootstrap: 'public'` */
export const PUBLIC_BOOTSTRAP = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ'
]

/** Listen addresses used when none are given: loopback only, TCP and WebSockets */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

export interface NodeOptions {
  repo: string
  listen: string[]
  /** `'none'`, `'public'` (opt-in, contacts the public IPFS bootstrap peers) or explicit multiaddrs */
  bootstrap: 'none' | 'public' | string[]
  /** Name of the OrbitDB identity's key in the keystore (default: the peer id); see `TransportInit.identityId` */
  identityId?: string
  /** Liveness pings of open connections, or `false` for none; see `TransportInit.connectionMonitor` */
  connectionMonitor?: ConnectionMonitorOptions | false
  /** Which addresses libp2p may dial on its own; see `TransportInit.dialPolicy` */
  dialPolicy?: DialPolicy
  /** Called with every address the dial policy refuses (before any socket is opened) */
  onDialDenied?: (ma: Multiaddr) => void
}

/**
 * `'loopback'`: libp2p dials only 127.0.0.0/8 and ::1, plus the addresses the
 * user passed to `connect()` themselves; addresses that peers advertise (identify,
 * peer store) elsewhere are refused. `'any'`: no restriction.
 */
export type DialPolicy = 'loopback' | 'any'

/** True for /ip4/127.x.x.x/... and /ip6/::1/... */
export function isLoopback (ma: Multiaddr): boolean {
  const host = ma.getComponents()[0]
  if (host == null) return false
  if (host.name === 'ip4') return host.value?.startsWith('127.') === true
  if (host.name === 'ip6') return host.value === '::1'
  return false
}

/**
 * The default dial policy: loopback only, unless the user configured something
 * that reaches further (a non-loopback listen or bootstrap address, or the public
 * bootstrap list), which is the explicit opt-in the network rule asks for.
 */
export function defaultDialPolicy (listen: string[], bootstrapList: 'none' | 'public' | string[]): DialPolicy {
  if (bootstrapList === 'public') return 'any'
  const explicit = [...listen, ...(bootstrapList === 'none' ? [] : bootstrapList)]
  return explicit.every((a) => { try { return isLoopback(multiaddr(a)) } catch { return true } }) ? 'loopback' : 'any'
}

/** host/port key of a multiaddr, to compare addresses with and without /p2p */
const dialKey = (ma: Multiaddr): string => ma.getComponents().filter((c) => c.name !== 'p2p').map((c) => `${c.name}=${c.value ?? ''}`).join('/')

/** libp2p's connection monitor, as the transport configures it */
export interface ConnectionMonitorOptions {
  /** How often every open connection is pinged (ms) */
  pingIntervalMs: number
  /** A ping without an answer within this time closes the connection (ms) */
  pingTimeoutMs: number
}

/**
 * Default liveness checks: a ping every 10 s (libp2p's interval), 15 s to answer. A
 * link that is cut silently (no FIN or RST: a laptop that sleeps, a pulled cable, a
 * dropped VPN) is noticed within about 25 s; a peer whose process ends closes its
 * connections and is noticed at once. Each ping is a new stream (two peer-store
 * updates, a protocol negotiation), ~4.7 ms of CPU for both ends: at the 2 s we had
 * before, a peer with 23 connections spent 5 % of a core on pings, and a 24-peer mesh
 * on one 2-core machine 1.3 cores, so that nothing else converged. With 5 s to answer,
 * busy peers of that mesh closed healthy connections of peers that were not companions
 * yet (nothing redials those) and the mesh never completed; with 15 s it did (measured
 * with `pnpm bench:mesh`, which reports the cores busy while idle and names the pairs
 * still missing with what the waiting side last saw of the other).
 */
export const DEFAULT_CONNECTION_MONITOR: ConnectionMonitorOptions = { pingIntervalMs: 10_000, pingTimeoutMs: 15_000 }

export type Libp2pServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
}

export type NppLibp2p = Libp2p<Libp2pServices>

/** Everything a running peer holds; owned by the transport machine */
export interface Node {
  libp2p: NppLibp2p
  helia: Helia<NppLibp2p>
  orbitdb: OrbitDB
  /** Our own pubsub topic: our peer id string */
  topic: string
  /** Let libp2p dial this address although the dial policy is loopback (the user asked for it) */
  allowDial(ma: Multiaddr): void
  close(): Promise<void>
}

const orbitLog = logger('orbitdb:npp')

/**
 * Log every db's opens, updates, joins and leaves under `orbitdb:*` (OrbitDB 4 logs
 * nothing itself), and guard every db's topic with our gossipsub validator
 * (./topic-validator.ts) while the db is open
 */
function withOrbitLogging (orbitdb: OrbitDB, pubsub: GossipSub): OrbitDB {
  const open = orbitdb.open.bind(orbitdb) as (address: string, options?: object) => Promise<Database>
  orbitdb.open = (async (address: string, options?: object) => {
    orbitLog('open %s', address)
    const db = await open(address, options)
    if (!(db as { __nppLogged?: boolean }).__nppLogged) {
      (db as { __nppLogged?: boolean }).__nppLogged = true
      orbitLog('opened %s db %s at %s', db.type, db.name, db.address)
      guardDbTopic(pubsub, db)
      db.events.on('update', (entry) => { orbitLog('%s update %s', db.address, entry.hash) })
      db.events.on('join', (peerId) => { orbitLog('%s join %s', db.address, String(peerId)) })
      db.events.on('leave', (peerId) => { orbitLog('%s leave %s', db.address, String(peerId)) })
      db.events.on('close', () => { orbitLog('%s closed', db.address) })
      // OrbitDB's sync emits 'error' (e.g. a peer's stream closed mid-exchange, heads that do
      // not decode); on an EventEmitter without an 'error' listener that would throw and crash
      // the node. Counted and logged (throttled) with OrbitDB's console reports.
      db.events.on('error', (err) => { reportNotice({ source: 'orbitdb', kind: 'sync-error', detail: `${db.address}: ${err instanceof Error ? err.message : String(err)}` }) })
    }
    return db
  }) as OrbitDB['open']
  return orbitdb
}

/** libp2p's `connectionMonitor` init: a fixed ping timeout (min = max), so the detection bound is interval + timeout */
function monitorConfig (monitor: ConnectionMonitorOptions | false): { enabled: false } | { pingInterval: number, pingTimeout: { minTimeout: number, maxTimeout: number }, abortConnectionOnPingFailure: true } {
  if (monitor === false) return { enabled: false }
  return {
    pingInterval: monitor.pingIntervalMs,
    pingTimeout: { minTimeout: monitor.pingTimeoutMs, maxTimeout: monitor.pingTimeoutMs },
    abortConnectionOnPingFailure: true
  }
}

/**
 * Build and start one peer: libp2p (TCP + WebSockets, noise, yamux, identify,
 * ping, gossipsub with StrictSign), Helia with bitswap only, and OrbitDB, all
 * persisted in one repo folder. Takes the repo lock first and undoes every step
 * that succeeded if a later one fails.
 */
export async function startNode (options: NodeOptions): Promise<Node> {
  const paths = repoPaths(options.repo)
  const unlock = await lockRepo(paths)
  const cleanups: Array<() => Promise<void>> = [unlock]
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) {
      await fn().catch(() => {})
    }
    cleanups.length = 0
  }
  try {
    const privateKey = await loadOrCreatePeerKey(paths)
    await mkdir(paths.orbitdb, { recursive: true })
    const datastore = new LevelDatastore(paths.datastore)
    await datastore.open()
    cleanups.push(async () => { await datastore.close() })
    const blockstore = new LevelBlockstore(paths.blocks)
    await blockstore.open()
    cleanups.push(async () => { await blockstore.close() })

    const bootstrapList = options.bootstrap === 'public'
      ? PUBLIC_BOOTSTRAP
      : options.bootstrap === 'none' ? [] : options.bootstrap

    const policy = options.dialPolicy ?? defaultDialPolicy(options.listen, options.bootstrap)
    const allowed = new Set<string>()
    const libp2p = await createLibp2p({
      privateKey,
      // The network rule: by default nothing is dialled beyond loopback, whatever
      // addresses other peers advertise, unless the user named the address.
      // libp2p asks the gater for every address before it dials it (or checks it is dialable)
      connectionGater: {
        denyDialMultiaddr: (ma: Multiaddr) => {
          const deny = policy === 'loopback' && !isLoopback(ma) && !allowed.has(dialKey(ma))
          if (deny) options.onDialDenied?.(ma)
          return deny
        }
      },
      // libp2p's own state (the peer store: every peer's addresses, protocols and keys,
      // rewritten on each identify and identify push) stays in memory. On LevelDB it was the
      // largest single cost of a busy peer (a mesh of 6 peers spent 14 s of 100 s CPU in
      // classic-level, most of it peer-store records); nothing needs it after a restart:
      // companions keep their own addresses, the peer id is in peer.key.
      datastore: new MemoryDatastore(),
      addresses: { listen: options.listen },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList })] : [],
      connectionMonitor: monitorConfig(options.connectionMonitor ?? DEFAULT_CONNECTION_MONITOR),
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          // OrbitDB publishes heads on a db's topic whether or not anyone listens
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          // gossipsub's IP colocation penalty (5 x (peers sharing an address - 10)^2) graylists
          // *every* peer of an address once 15 share it (a school's NAT, every peer of a test on
          // 127.0.0.1), and then drops all of their messages without a trace: the legitimate
          // companions' with the others'. Anyone could cut us off from our companions by opening
          // a few connections from their address. Announcement floods are bounded per peer by
          // discovery instead (found by tests/reliability's hostile peer).
          scoreParams: { IPColocationFactorWeight: 0 }
        })
      }
    })
    cleanups.push(async () => { await libp2p.stop() })

    const helia = new Helia<NppLibp2p>({
      libp2p,
      blockstore,
      datastore,
      // Send a new want at once (default: after a 10 ms debounce). Opening a peer's db is a
      // chain of single-block fetches (manifest, access controller, identity, entries), each
      // of which paid the debounce; wants added in the same tick are still sent together.
      blockBrokers: [bitswap({ sendWantlistDebounce: 0 })],
      routers: [libp2pRouting(libp2p)]
    })
    await helia.start()
    cleanups.push(async () => { await helia.stop() })

    const topic = libp2p.peerId.toString()
    // The identity id is our peer id (unless given), so the OrbitDB identity (its
    // key lives in the repo's keystore) is the same after every restart.
    const orbitdb = withOrbitLogging(await createOrbitDB({ ipfs: helia, id: options.identityId ?? topic, directory: paths.orbitdb }), libp2p.services.pubsub)
    cleanups.push(async () => { await orbitdb.stop() })

    libp2p.services.pubsub.subscribe(topic)

    return { libp2p, helia, orbitdb, topic, allowDial: (ma) => { allowed.add(dialKey(ma)) }, close: cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}
