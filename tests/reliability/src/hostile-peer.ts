/**
 * A hostile peer built directly on libp2p (and, to attempt writes, on
 * @orbitdb/core with a Helia of its own), not on our packages: it speaks the
 * wire protocol the way a buggy or malicious implementation would.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bitswap } from '@helia/block-brokers'
import { Helia } from '@helia/utils'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createOrbitDB } from '@orbitdb/core'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import type { OrbitDB } from './orbitdb-types.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'

// eslint-disable-next-line @typescript-eslint/consistent-type-definitions -- libp2p's ServiceMap needs an index signature
type Services = { identify: Identify, pubsub: GossipSub }

export interface HostilePeer {
  readonly peerId: string
  readonly libp2p: Libp2p<Services>
  connect(address: string): Promise<void>
  /** Resolve once `peerId` has subscribed to `topic` (event-driven) */
  waitSubscribed(topic: string, timeoutMs?: number): Promise<void>
  /** Publish raw bytes on a topic; resolves with the number of peers it went to */
  publish(topic: string, bytes: Uint8Array): Promise<number>
  /** An OrbitDB of the hostile peer's own (created on first use, in memory) */
  orbitdb(): Promise<OrbitDB>
  stop(): Promise<void>
}

export async function createHostilePeer (): Promise<HostilePeer> {
  const datastore = new MemoryDatastore()
  const libp2p = await createLibp2p({
    datastore,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign', allowPublishToZeroTopicPeers: true, emitSelf: false })
    }
  })
  let helia: Helia<Libp2p<Services>> | undefined
  let orbit: OrbitDB | undefined
  const pubsub = libp2p.services.pubsub

  return {
    peerId: libp2p.peerId.toString(),
    libp2p,
    async connect (address) {
      await libp2p.dial(multiaddr(address))
    },
    async waitSubscribed (topic, timeoutMs = 10_000) {
      const ready = (): boolean => pubsub.getSubscribers(topic).some((p) => p.toString() === topic)
      if (ready()) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { pubsub.removeEventListener('subscription-change', on); reject(new Error(`${topic} never subscribed`)) }, timeoutMs)
        const on = (): void => {
          if (!ready()) return
          clearTimeout(timer)
          pubsub.removeEventListener('subscription-change', on)
          resolve()
        }
        pubsub.addEventListener('subscription-change', on)
      })
    },
    async publish (topic, bytes) {
      const { recipients } = await pubsub.publish(topic, bytes)
      return recipients.length
    },
    async orbitdb () {
      if (orbit != null) return orbit
      helia = new Helia<Libp2p<Services>>({ libp2p, blockstore: new MemoryBlockstore(), datastore, blockBrokers: [bitswap()] })
      await helia.start()
      const created = await createOrbitDB({ ipfs: helia, id: `hostile-${libp2p.peerId.toString()}`, directory: `/tmp/npp-hostile-${process.pid}-${libp2p.peerId.toString().slice(-8)}` })
      orbit = created
      return created
    },
    async stop () {
      await orbit?.stop()
      await helia?.stop()
      await libp2p.stop()
    }
  }
}
