/**
 * A block fetched with `providers` is asked of those peers alone (our bitswap patch,
 * patches/@helia__bitswap@3.2.3.patch): upstream sends every want to every connected
 * peer, which in a 24-peer mesh cost ~69 streams per block. The want widens to every
 * peer when the providers do not have the block or are not connected.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readBlock } from '../src/blocks.js'
import { HeadsPolicy } from '../src/providers.js'
import { startedTransport } from './helpers.js'
import type { Transport } from '../src/index.js'
import type { PeerId } from '@libp2p/interface'

const RAW = 0x55
const BITSWAP = '/ipfs/bitswap/1.2.0'
const cleanups: Array<() => Promise<void>> = []
let asker: Transport
let holder: Transport
let bystander: Transport
/** Peers `asker` opened a bitswap stream to, in order */
const asked: string[] = []

async function storeBlock (transport: Transport, text: string): Promise<CID> {
  const bytes = new TextEncoder().encode(text)
  const cid = CID.createV1(RAW, await sha256.digest(bytes))
  await transport.helia.blockstore.put(cid, bytes)
  return cid
}

/** The bitswap streams `asker` opens while `fn` runs, by peer id */
async function streamsDuring (fn: () => Promise<unknown>): Promise<string[]> {
  asked.length = 0
  await fn()
  return [...asked]
}

beforeAll(async () => {
  asker = await startedTransport(cleanups, 'providers-asker')
  holder = await startedTransport(cleanups, 'providers-holder')
  bystander = await startedTransport(cleanups, 'providers-bystander')
  await asker.connect(holder.multiaddrs[0]!)
  await asker.connect(bystander.multiaddrs[0]!)
  const libp2p = asker.libp2p
  const dialProtocol = libp2p.dialProtocol.bind(libp2p)
  libp2p.dialProtocol = (async (peer: Parameters<typeof dialProtocol>[0], protocols: string | string[], options?: Parameters<typeof dialProtocol>[2]) => {
    if ([protocols].flat().includes(BITSWAP)) asked.push(peer.toString())
    return await dialProtocol(peer, protocols, options)
  }) as typeof libp2p.dialProtocol
})
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe('a block fetched with providers', () => {
  it('is asked of the provider alone, not of every connected peer', async () => {
    const cid = await storeBlock(holder, 'asked of its holder')
    const providers = [peerIdFromString(holder.peerId)]
    let bytes: Uint8Array | undefined
    const streams = await streamsDuring(async () => { bytes = await readBlock(asker.helia, cid, { providers, signal: AbortSignal.timeout(30_000) }) })
    expect(new TextDecoder().decode(bytes)).toBe('asked of its holder')
    expect(streams).not.toContain(bystander.peerId)
    expect(streams).toContain(holder.peerId)
  })

  it('without providers is asked of every connected peer (upstream behaviour)', async () => {
    const cid = await storeBlock(holder, 'asked of everyone')
    const streams = await streamsDuring(async () => await readBlock(asker.helia, cid, { signal: AbortSignal.timeout(30_000) }))
    expect(new Set(streams)).toEqual(new Set([holder.peerId, bystander.peerId]))
  })

  it('widens to every peer when the provider answers that it does not have the block', async () => {
    const cid = await storeBlock(bystander, 'held by someone else')
    const providers = [peerIdFromString(holder.peerId)]
    let bytes: Uint8Array | undefined
    const streams = await streamsDuring(async () => { bytes = await readBlock(asker.helia, cid, { providers, signal: AbortSignal.timeout(30_000) }) })
    expect(new TextDecoder().decode(bytes)).toBe('held by someone else')
    // the provider first, then (after its DONT_HAVE) the bystander
    expect(streams[0]).toBe(holder.peerId)
    expect(streams).toContain(bystander.peerId)
  })

  it('is asked of everyone when no provider is connected', async () => {
    const cid = await storeBlock(bystander, 'provider not connected')
    const stranger = peerIdFromString('12D3KooWHSdvcoZKmWSa8WyKVqFFHmWEJeD1pyb3i1RBcqX2ZUrW')
    const bytes = await readBlock(asker.helia, cid, { providers: [stranger], signal: AbortSignal.timeout(30_000) })
    expect(new TextDecoder().decode(bytes)).toBe('provider not connected')
  })

  it('leaves no listener behind for a connected provider (upstream waited for an identify that never came, for ever)', async () => {
    const providers = [peerIdFromString(holder.peerId)]
    const before = asker.libp2p.listenerCount('peer:identify')
    for (let i = 0; i < 10; i++) {
      const cid = await storeBlock(holder, `listener ${i}`)
      await readBlock(asker.helia, cid, { providers, signal: AbortSignal.timeout(30_000) })
    }
    expect(asker.libp2p.listenerCount('peer:identify')).toBe(before)
  })
})

describe('HeadsPolicy: whom a db opened with from exchanges heads with', () => {
  const [source, other] = ['12D3KooWHSdvcoZKmWSa8WyKVqFFHmWEJeD1pyb3i1RBcqX2ZUrW', '12D3KooWNJc1eb7N7bhEuRYWhAnXZfhdr8hDMHcQ5ywqcHJTi7FQ'].map((id) => peerIdFromString(id)) as [PeerId, PeerId]
  const address = '/orbitdb/zdpuAuK3BHpS7NvMBivynypqciYCuy2UW77XYBPUYRnLjnw13'
  const protocol = `/orbitdb/heads${address}`
  let connected = new Set<string>()
  const policy = new HeadsPolicy({ getConnections: (peer: PeerId) => connected.has(peer.toString()) ? [{}] : [] } as unknown as Transport['libp2p'])

  it('exchanges with everyone for a db opened without from (our own)', () => {
    connected = new Set([source.toString(), other.toString()])
    expect(policy.allows(protocol, other)).toBe(true)
  })

  it('exchanges with its source alone while the source is connected, with anyone while it is away', () => {
    const release = policy.follow(address, source)
    connected = new Set([source.toString(), other.toString()])
    expect(policy.allows(protocol, source)).toBe(true)
    expect(policy.allows(protocol, other)).toBe(false)
    connected = new Set([other.toString()])
    expect(policy.allows(protocol, other)).toBe(true)
    release()
    connected = new Set([source.toString(), other.toString()])
    expect(policy.allows(protocol, other)).toBe(true)
  })
})
