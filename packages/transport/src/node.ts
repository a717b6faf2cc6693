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
import { LevelDatastore } from 'datastore-level'
import { createLibp2p } from 'libp2p'
import { createOrbitDB } from './orbitdb.js'
import { loadOrCreatePeerKey, lockRepo, repoPaths } from './repo.js'
import type { Database, OrbitDB } from './orbitdb.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
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
}

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
  close(): Promise<void>
}

const orbitLog = logger('orbitdb:npp')

/** Log every db's opens, updates, joins and leaves under `orbitdb:*` (OrbitDB 4 logs nothing itself) */
function withOrbitLogging (orbitdb: OrbitDB): OrbitDB {
  const open = orbitdb.open.bind(orbitdb) as (address: string, options?: object) => Promise<Database>
  orbitdb.open = (async (address: string, options?: object) => {
    orbitLog('open %s', address)
    const db = await open(address, options)
    if (!(db as { __nppLogged?: boolean }).__nppLogged) {
      (db as { __nppLogged?: boolean }).__nppLogged = true
      orbitLog('opened %s db %s at %s', db.type, db.name, db.address)
      db.events.on('update', (entry) => { orbitLog('%s update %s', db.address, entry.hash) })
      db.events.on('join', (peerId) => { orbitLog('%s join %s', db.address, String(peerId)) })
      db.events.on('leave', (peerId) => { orbitLog('%s leave %s', db.address, String(peerId)) })
      db.events.on('close', () => { orbitLog('%s closed', db.address) })
      // OrbitDB's sync emits 'error' (e.g. a peer's stream closed mid-exchange); on an
      // EventEmitter without an 'error' listener that would throw and crash the node
      db.events.on('error', (err) => { orbitLog.error('%s sync error: %s', db.address, err.message) })
    }
    return db
  }) as OrbitDB['open']
  return orbitdb
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

    const libp2p = await createLibp2p({
      privateKey,
      datastore,
      addresses: { listen: options.listen },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList })] : [],
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          // OrbitDB publishes heads on a db's topic whether or not anyone listens
          allowPublishToZeroTopicPeers: true,
          emitSelf: false
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
    const orbitdb = withOrbitLogging(await createOrbitDB({ ipfs: helia, id: options.identityId ?? topic, directory: paths.orbitdb }))
    cleanups.push(async () => { await orbitdb.stop() })

    libp2p.services.pubsub.subscribe(topic)

    return { libp2p, helia, orbitdb, topic, close: cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}
