/**
 * A stock OrbitDB peer, as the tutorial builds one: libp2p (TCP, noise, yamux, identify,
 * gossipsub), Helia with bitswap and LevelDB stores, and `@orbitdb/core` 4 on top,
 * nothing of `@npp/*`. The comparison in the benchmarks ("raw OrbitDB") and the other
 * side of the compatibility tests. Listens on 127.0.0.1 only.
 *
 * (The workspace patches `@helia/bitswap` 3.2.3 for everyone, this peer included: see
 * `patches/`.)
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bitswap } from '@helia/block-brokers'
import { Helia } from '@helia/utils'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createOrbitDB, Documents } from '@orbitdb/core'
import { LevelBlockstore } from 'blockstore-level'
import { LevelDatastore } from 'datastore-level'
import { createLibp2p } from 'libp2p'

/** The parts of `@orbitdb/core`'s untyped API the stock peer's users call */
export interface StockDatabase {
  address: string
  put(doc: unknown): Promise<string>
  all(): Promise<unknown[]>
  close(): Promise<void>
  events: { on(event: string, fn: (...args: unknown[]) => void): void, off(event: string, fn: (...args: unknown[]) => void): void }
}

export interface StockOrbitDB {
  open(address: string, options?: Record<string, unknown>): Promise<StockDatabase>
  stop(): Promise<void>
}

export interface StockPeer {
  peerId: string
  /** Where it listens, with `/p2p/<peerId>` */
  address: string
  orbitdb: StockOrbitDB
  /** `@orbitdb/core`'s own `Documents({ indexBy })` */
  Documents: (options: { indexBy: string }) => unknown
  dial(address: string): Promise<void>
  stop(): Promise<void>
}

const stock = { createOrbitDB, Documents } as unknown as {
  createOrbitDB: (options: { ipfs: unknown, id?: string, directory: string }) => Promise<StockOrbitDB>
  Documents: (options: { indexBy: string }) => unknown
}

/** Start a stock OrbitDB peer with its stores under `directory` */
export async function createStockPeer (directory: string): Promise<StockPeer> {
  await mkdir(directory, { recursive: true })
  const datastore = new LevelDatastore(join(directory, 'datastore'))
  await datastore.open()
  const blockstore = new LevelBlockstore(join(directory, 'blocks'))
  await blockstore.open()
  const libp2p = await createLibp2p({
    datastore,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false })
    }
  })
  const helia = new Helia({ libp2p, blockstore, datastore, blockBrokers: [bitswap()] })
  await helia.start()
  const orbitdb = await stock.createOrbitDB({ ipfs: helia, id: libp2p.peerId.toString(), directory: join(directory, 'orbitdb') })
  return {
    peerId: libp2p.peerId.toString(),
    address: libp2p.getMultiaddrs().map(String).find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))!,
    orbitdb,
    Documents: stock.Documents,
    async dial (address) { await libp2p.dial(multiaddr(address)) },
    async stop () {
      await orbitdb.stop()
      await helia.stop()
      await libp2p.stop()
      await blockstore.close()
      await datastore.close()
    }
  }
}

/** Resolves once `db` holds `n` documents (checked on every update and join, never on a timer) */
export async function holding (db: StockDatabase | { all(): Promise<unknown[]>, events: StockDatabase['events'] }, n: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let checking = Promise.resolve()
    const check = (): void => {
      checking = checking.then(async () => {
        if ((await db.all()).length < n) return
        db.events.off('update', check)
        db.events.off('join', check)
        resolve()
      }).catch(reject)
    }
    db.events.on('update', check)
    db.events.on('join', check)
    check()
  })
}
