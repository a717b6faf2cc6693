/**
 * Who a remote db is replicated from. A db opened with `from` (its announcer, its
 * owner) fetches its blocks from that peer and exchanges heads with it, instead of with
 * every peer that has the db open: in a mesh where everyone replicates everyone's
 * catalog, OrbitDB alone exchanged heads between every pair of replicas of every db
 * (N³ exchanges for N peers; 563 heads streams per peer in a 24-peer mesh) and asked
 * every connected peer for every block (~69 streams per block).
 */
import { UnsupportedProtocolError } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { NppLibp2p } from './node.js'
import type { Helia } from '@helia/interface'
import type { PeerId, Stream, Connection, StreamHandler } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { BlockArrivals } from './arrivals.js'

/**
 * `from` as the `providers` of a fetch: a hint, so a string that is no peer id is
 * no provider (the blocks are then asked of every connected peer)
 */
export function providersOf (from: string | undefined): PeerId[] | undefined {
  if (from == null) return undefined
  try {
    return [peerIdFromString(from)]
  } catch {
    return undefined
  }
}

/** Helia as OrbitDB's block storage uses it, with every fetch asking `providers` first */
export function withProviders (helia: Helia<NppLibp2p>, providers: PeerId[]): unknown {
  return {
    blockstore: {
      get: (cid: CID, options: Record<string, unknown> = {}) => helia.blockstore.get(cid, { ...options, providers }),
      put: async (cid: CID, block: Uint8Array, options?: { signal?: AbortSignal }) => await helia.blockstore.put(cid, block, options),
      has: async (cid: CID, options?: { signal?: AbortSignal }) => await helia.blockstore.has(cid, options)
    },
    pins: helia.pins
  }
}

/**
 * The peers to ask for the blocks of an access controller's writers (their identities)
 * while a db using it opens with `from`: OrbitDB builds the controller inside `open()`
 * and hands it nothing of ours but the controller's address.
 */
export const accessProviders = new class {
  readonly #held = new Map<string, { providers: PeerId[], holders: number }>()
  hold (address: string, providers: PeerId[]): () => void {
    const held = this.#held.get(address) ?? { providers, holders: 0 }
    held.holders++
    this.#held.set(address, held)
    return () => { if (--held.holders === 0 && this.#held.get(address) === held) this.#held.delete(address) }
  }

  get (address: unknown): PeerId[] | undefined {
    return typeof address === 'string' ? this.#held.get(address)?.providers : undefined
  }
}()

const HEADS = '/orbitdb/heads'

/**
 * Which peers each db opened with `from` exchanges heads with: its source, and anyone
 * who has the db while the source is not connected (a replica keeps serving and
 * catching up while its owner is away). Dbs opened without `from` (our own) exchange
 * with everyone, as OrbitDB does.
 */
export class HeadsPolicy {
  readonly #sources = new Map<string, PeerId>()
  readonly #libp2p: NppLibp2p
  readonly #beforeJoin: BeforeJoin | undefined

  /** `beforeJoin` runs for every head a peer sends in an exchange, before OrbitDB joins it */
  constructor (libp2p: NppLibp2p, beforeJoin?: BeforeJoin) {
    this.#libp2p = libp2p
    this.#beforeJoin = beforeJoin
  }

  /** `address` exchanges heads with `source` (and others only while `source` is away) until released */
  follow (address: string, source: PeerId): () => void {
    this.#sources.set(address, source)
    return () => { if (this.#sources.get(address) === source) this.#sources.delete(address) }
  }

  /** Whether `peer` may exchange heads of the db behind `protocol` (`/orbitdb/heads/orbitdb/<cid>`) with us */
  allows (protocol: string, peer: PeerId): boolean {
    const source = this.#sources.get(protocol.slice(HEADS.length))
    return source == null || source.equals(peer) || this.#libp2p.getConnections(source).length === 0
  }

  /** `stream` whose heads (as OrbitDB reads them) wait for `beforeJoin` */
  #joining (stream: Stream, peer: PeerId): Stream {
    const beforeJoin = this.#beforeJoin
    if (beforeJoin == null) return stream
    const heads = async function * (): AsyncGenerator<{ subarray: () => Uint8Array }> {
      for await (const value of stream) {
        await beforeJoin(peer, value.subarray())
        yield value
      }
    }
    return overriding(stream, { [Symbol.asyncIterator]: heads })
  }

  /**
   * libp2p as OrbitDB's `Sync` uses it, with this policy on its heads protocol: a dial
   * the policy refuses fails as `UnsupportedProtocolError` (which OrbitDB skips, as for a
   * peer that does not have the db); an inbound exchange it refuses gets no heads and its
   * heads are not joined (an aborted stream made the dialling OrbitDB throw unhandled).
   */
  wrap (): NppLibp2p {
    const libp2p = this.#libp2p
    const handle = async (protocol: string | string[], handler: StreamHandler, options?: Parameters<NppLibp2p['handle']>[2]): Promise<void> => {
      const first = [protocol].flat()[0] ?? ''
      if (!first.startsWith(HEADS)) return await libp2p.handle(protocol, handler, options)
      const guarded = (stream: Stream, connection: Connection): void | Promise<void> => {
        if (this.allows(first, connection.remotePeer)) return handler(this.#joining(stream, connection.remotePeer), connection)
        return decline(stream)
      }
      await libp2p.handle(protocol, guarded, options)
    }
    const dialProtocol = async (peer: Parameters<NppLibp2p['dialProtocol']>[0], protocols: string | string[], options?: Parameters<NppLibp2p['dialProtocol']>[2]): Promise<Stream> => {
      const first = [protocols].flat()[0] ?? ''
      if (first.startsWith(HEADS) && typeof peer === 'object' && 'toMultihash' in peer && !this.allows(first, peer)) {
        throw new UnsupportedProtocolError('heads of this db are exchanged with its source while it is connected')
      }
      const stream = await libp2p.dialProtocol(peer, protocols, options)
      return first.startsWith(HEADS) && typeof peer === 'object' && 'toMultihash' in peer ? this.#joining(stream, peer) : stream
    }
    return overriding(libp2p, { handle, dialProtocol })
  }
}

/** Something to do with a head a peer sent (its entry's bytes) before OrbitDB joins it */
export type BeforeJoin = (peer: PeerId, head: Uint8Array) => Promise<void>

/** An exchange of heads without ours, and theirs read but not joined */
async function decline (stream: Stream): Promise<void> {
  try {
    await stream.close()
    for await (const _ of stream) { /* their heads: not joined */ }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
}

/** `helia` with `libp2p` swapped for `libp2p` (everything else is the same node) */
export function withLibp2p (helia: Helia<NppLibp2p>, libp2p: NppLibp2p): Helia<NppLibp2p> {
  return overriding(helia, { libp2p })
}

/** `helia` whose block fetches also end when `stop` aborts */
export function withStopSignal (helia: Helia<NppLibp2p>, stop: AbortSignal): Helia<NppLibp2p> {
  const { blockstore } = helia
  const get = (cid: CID, options: { signal?: AbortSignal, [key: string]: unknown } = {}): ReturnType<typeof blockstore.get> =>
    blockstore.get(cid, { ...options, signal: options.signal == null ? stop : AbortSignal.any([options.signal, stop]) })
  return overriding(helia, { blockstore: overriding(blockstore, { get }) })
}

/** `helia` whose block reads wait for a block a log-blocks stream is bringing (./arrivals.ts) */
export function withArrivals (helia: Helia<NppLibp2p>, arrivals: BlockArrivals): Helia<NppLibp2p> {
  const { blockstore } = helia
  const get = async function * (cid: CID, options: { signal?: AbortSignal, [key: string]: unknown } = {}): ReturnType<typeof blockstore.get> {
    const fresh = await arrivals.until(cid, options.signal)
    if (fresh != null) yield fresh
    else yield * blockstore.get(cid, options)
  }
  return overriding(helia, { blockstore: overriding(blockstore, { get }) })
}

/** `target` with some properties replaced; its methods stay bound to it (private fields) */
export function overriding<T extends object> (target: T, overrides: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get (object, property) {
      if (Object.hasOwn(overrides, property)) return (overrides as Record<PropertyKey, unknown>)[property]
      const value: unknown = Reflect.get(object, property, object)
      return typeof value === 'function' ? value.bind(object) : value
    }
  })
}
