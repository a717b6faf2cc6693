/**
 * A hostile peer built directly on libp2p (and, to attempt writes, on
 * @orbitdb/core with a Helia of its own), not on our packages: it speaks the
 * wire protocol the way a buggy or malicious implementation would.
 */
import { rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bitswap } from '@helia/block-brokers'
import { Helia } from '@helia/utils'
import * as dagCbor from '@ipld/dag-cbor'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { Entry, IPFSAccessController, createOrbitDB, useAccessController } from '@orbitdb/core'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import * as Block from 'multiformats/block'
import { base58btc } from 'multiformats/bases/base58'
import { sha256 } from 'multiformats/hashes/sha2'
import type { OrbitDB } from './orbitdb-types.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { AddressInfo } from 'node:net'

// a type alias, not an interface: libp2p's ServiceMap needs an index signature
type Services = { identify: Identify, pubsub: GossipSub }

/** Whose log an entry is forged for, and whose identity it may claim */
export interface ForgeTarget {
  /** The db's address (its log id) */
  logId: string
  /** Hash of the owner's OrbitDB identity (what its entries carry in `identity`) */
  identityHash: string
  /** The owner's public key (what its entries carry in `key`) */
  publicKey: string
}

/**
 * How an entry is forged:
 * - `claimed-identity`: claims the owner's identity, carries our key and our valid signature
 *   (OrbitDB 4.0.0 accepts this one; our transport's access controller refuses it)
 * - `own-identity`: our identity, key and signature: a plain write by someone without access
 * - `wrong-log`: signed by us for another log id
 * - `bad-signature`: claims the owner's identity and key, signed with our key
 */
/**
 * `claimed-identity`: the owner's identity, our key; `own-identity`: our identity; `wrong-log`:
 * another log's id; `bad-signature`: the owner's key, our signature; `unknown-identity`: signed
 * by us, naming a fresh identity hash whose block exists nowhere (each call a new one)
 */
export type ForgeKind = 'claimed-identity' | 'own-identity' | 'wrong-log' | 'bad-signature' | 'unknown-identity'

export interface HostilePeer {
  readonly peerId: string
  readonly libp2p: Libp2p<Services>
  /** Where it really listens (TCP on 127.0.0.1, with /p2p/): with `announce`, not what identify tells */
  readonly listenAddress: string
  connect(address: string): Promise<void>
  /** Subscribe to a topic (e.g. to relay other peers' messages on it) */
  subscribe(topic: string): void
  /** Resolve once `peerId` (default: the topic, a peer's own topic) is subscribed to `topic` (event-driven) */
  waitSubscribed(topic: string, peerId?: string, timeoutMs?: number): Promise<void>
  /**
   * Resolves once our gossipsub has its outbound stream to `peerId` (what `publish` writes to;
   * gossipsub opens it shortly after the connection, not when the peer's subscription arrives)
   */
  waitOutbound(peerId: string, timeoutMs?: number): Promise<void>
  /** Publish raw bytes on a topic; resolves with the number of peers it went to */
  publish(topic: string, bytes: Uint8Array): Promise<number>
  /** An OrbitDB of the hostile peer's own (created on first use; blocks in memory); not for a `light` peer */
  orbitdb(): Promise<OrbitDB>
  /**
   * Serve a db's heads as OrbitDB's `Sync` would, without an OrbitDB: subscribe to the db's
   * topic and answer the head exchange (`/orbitdb/heads<address>`) with these encoded entries
   * (the blocks they point to are another peer's to serve, e.g. over its bitswap)
   */
  serveHeads(address: string, heads: Uint8Array[]): Promise<void>
  /** A correctly encoded entry for `target`'s log, forged as `kind` says; its bytes go on the db's topic */
  forge(kind: ForgeKind, target: ForgeTarget, payload: unknown, seq: number): Promise<{ hash: string, bytes: Uint8Array }>
  stop(): Promise<void>
}

interface SigningIdentity {
  id: string
  hash: string
  publicKey: string
  sign(identity: unknown, data: Uint8Array): Promise<string>
}

export interface HostilePeerOptions {
  /**
   * Gossipsub direct peers (multiaddrs with /p2p/): messages on our topics are forwarded
   * to them at once, whatever the mesh looks like (a deterministic relay)
   */
  directPeers?: string[]
  /** libp2p, identify and gossipsub only: no Helia, no OrbitDB (one of many identities of one attacker) */
  light?: boolean
  /** Tell other peers (identify) only these addresses, not where we listen (libp2p's `addresses.announce`) */
  announce?: string[]
}

/** A TCP port nobody listens on at 127.0.0.1 right now */
async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => { resolve(port) })
    })
  })
}

export async function createHostilePeer (options: HostilePeerOptions = {}): Promise<HostilePeer> {
  const datastore = new MemoryDatastore()
  // with `announce`, libp2p reports only the announced addresses: listen on a port we know
  const port = options.announce == null ? 0 : await freePort()
  const libp2p = await createLibp2p({
    datastore,
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`], ...(options.announce == null ? {} : { announce: options.announce }) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // a hostile implementation does not answer pings
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        directPeers: (options.directPeers ?? []).map((address) => {
          const ma = multiaddr(address)
          return { id: peerIdFromString(ma.getComponents().find((c) => c.name === 'p2p')!.value!), addrs: [ma] }
        })
      })
    }
  })
  // Helia (bitswap) starts with libp2p, before any connection: peers learn the protocols
  // we speak from identify when we connect, and this peer has no identify push
  const helia = options.light === true ? undefined : new Helia<Libp2p<Services>>({ libp2p, blockstore: new MemoryBlockstore(), datastore, blockBrokers: [bitswap()] })
  await helia?.start()
  let orbit: OrbitDB | undefined
  const directory = join(tmpdir(), `npp-hostile-${process.pid}-${libp2p.peerId.toString().slice(-8)}`)
  const pubsub = libp2p.services.pubsub
  const listenAddress = port === 0
    ? libp2p.getMultiaddrs().map(String).find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))!
    : `/ip4/127.0.0.1/tcp/${port}/p2p/${libp2p.peerId.toString()}`

  const orbitdb = async (): Promise<OrbitDB> => {
    if (orbit != null) return orbit
    if (helia == null) throw new Error('a light hostile peer has no OrbitDB')
    const created = await createOrbitDB({ ipfs: helia, id: `hostile-${libp2p.peerId.toString()}`, directory })
    orbit = created
    return created
  }

  return {
    peerId: libp2p.peerId.toString(),
    libp2p,
    listenAddress,
    async connect (address) {
      // libp2p refuses more than 5 inbound connections per second from one IP (its
      // `inboundConnectionThreshold`), and every hostile identity dials from 127.0.0.1:
      // like any client that is turned away, retry a little later (bounded)
      for (let attempt = 1; ; attempt++) {
        try {
          await libp2p.dial(multiaddr(address))
          return
        } catch (err) {
          const refused = /ECONNRESET|EPIPE/.test(String((err as Error).message)) || (err as Error).name === 'EncryptionFailedError'
          if (!refused || attempt >= 40) throw err
          await new Promise((resolve) => setTimeout(resolve, 250))
        }
      }
    },
    subscribe (topic) {
      pubsub.subscribe(topic)
    },
    async waitSubscribed (topic, peerId = topic, timeoutMs = 10_000) {
      const ready = (): boolean => pubsub.getSubscribers(topic).some((p) => p.toString() === peerId)
      if (ready()) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { pubsub.removeEventListener('subscription-change', on); reject(new Error(`${peerId} never subscribed to ${topic}`)) }, timeoutMs)
        const on = (): void => {
          if (!ready()) return
          clearTimeout(timer)
          pubsub.removeEventListener('subscription-change', on)
          resolve()
        }
        pubsub.addEventListener('subscription-change', on)
      })
    },
    async waitOutbound (peerId, timeoutMs = 10_000) {
      // gossipsub keeps its streams private and sends no event for a new one: look, a tick at a time
      const streams = (pubsub as unknown as { streamsOutbound: Map<string, unknown> }).streamsOutbound
      const deadline = Date.now() + timeoutMs
      while (!streams.has(peerId)) {
        if (Date.now() > deadline) throw new Error(`no gossipsub stream to ${peerId} within ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    },
    async publish (topic, bytes) {
      const { recipients } = await pubsub.publish(topic, bytes)
      return recipients.length
    },
    orbitdb,
    async serveHeads (address, heads) {
      // OrbitDB's Sync: both sides send their heads, one message each, then close; the other
      // side dials us once it sees us subscribed to the db's topic
      await libp2p.handle(`/orbitdb/heads${address}`, async (stream) => {
        try {
          await Promise.all([
            (async () => { for await (const chunk of stream) void chunk })(),
            (async () => {
              for (const bytes of heads) stream.send(bytes)
              await stream.close()
            })()
          ])
        } catch (err) {
          stream.abort(err as Error)
        }
      })
      pubsub.subscribe(address)
    },
    async forge (kind, target, payload, seq) {
      const me = (await orbitdb()).identity as unknown as SigningIdentity
      const value = {
        id: kind === 'wrong-log' ? `${target.logId}-not-this-one` : target.logId,
        payload,
        next: [],
        refs: [],
        clock: { id: kind === 'own-identity' || kind === 'wrong-log' ? me.publicKey : target.publicKey, time: 1_000_000 + seq },
        v: 2
      }
      const { bytes } = await Block.encode({ value, codec: dagCbor, hasher: sha256 })
      const sig = await me.sign(me, bytes)
      const claimed = kind === 'claimed-identity' || kind === 'bad-signature'
      const entry = {
        ...value,
        key: kind === 'bad-signature' ? target.publicKey : me.publicKey,
        identity: claimed ? target.identityHash : kind === 'unknown-identity' ? await nowhere(seq) : me.hash,
        sig
      }
      return await Entry.encode(entry)
    },
    async stop () {
      await orbit?.stop()
      await helia?.stop()
      await libp2p.stop()
      await rm(directory, { recursive: true, force: true })
    }
  }
}

/** A db's heads as OrbitDB sends them in its head exchange (for {@link HostilePeer.serveHeads}) */
export async function encodedHeads (db: { log: { heads(): Promise<object[]> } }): Promise<Uint8Array[]> {
  return await Promise.all((await db.log.heads()).map(async (head) => (await Entry.encode(head)).bytes))
}

/** The CID of an identity-like block that is stored nowhere (so fetching it can only time out) */
async function nowhere (seq: number): Promise<string> {
  const { cid } = await Block.encode({ value: { id: `nobody-${seq}-${Math.random()}`, publicKey: 'none', signatures: {}, type: 'publickey' }, codec: dagCbor, hasher: sha256 })
  return cid.toString(base58btc)
}

/**
 * Replace OrbitDB's `ipfs` access controller, in this process only, by one that
 * lets anybody write: the hostile peer's own OrbitDB then accepts its `put`s
 * into our dbs and sends them to us like any update. Call {@link restoreAccess}
 * afterwards.
 */
export function allowEveryWriter (): void {
  const allowAll = Object.assign((options?: unknown) => async (args: unknown) => {
    const controller = await IPFSAccessController(options)(args)
    return { ...controller, canAppend: async () => true }
  }, { type: 'ipfs' })
  useAccessController(allowAll)
}

/** Put OrbitDB's own `ipfs` access controller back */
export function restoreAccess (): void {
  useAccessController(IPFSAccessController)
}
