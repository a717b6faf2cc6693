/**
 * `/npp/log-blocks/1.0.0`: a log's blocks below a head, streamed by a peer that has
 * them, so that OrbitDB's join finds them local, or on their way (./arrivals.ts).
 *
 * OrbitDB joins a head by walking its `next` and `refs` one frontier at a time, each
 * frontier a round of bitswap wants (~60 rounds for 1,000 entries). Before a head
 * received in a heads exchange is handed to OrbitDB, we ask the peer that sent it for
 * every block below it in one stream: the server walks its own blockstore (never the
 * network) and sends each block with its CID; we check every block against its CID
 * (dag-cbor, sha2-256) and that it is linked from the head or a block before it, before
 * storing it. Nothing else changes: OrbitDB still walks,
 * verifies every signature and asks the access controller for each entry, and fetches
 * over bitswap what the stream did not bring. A peer without the protocol (a stock
 * OrbitDB peer) answers `UnsupportedProtocolError` and plain OrbitDB sync goes on.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { lpStream } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { createHash } from 'node:crypto'
import { equals } from 'uint8arrays/equals'
import { base58btc } from 'multiformats/bases/base58'
import { readBlock } from './blocks.js'
import type { BlockArrivals } from './arrivals.js'
import type { NppLibp2p } from './node.js'
import type { Helia } from '@helia/interface'
import type { PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '@libp2p/logger'

export const LOG_BLOCKS_PROTOCOL = '/npp/log-blocks/1.0.0'

/** Bounds of one exchange, on both sides */
export interface LogBlocksLimits {
  /** Blocks one request may bring (a catalog replica holds at most 100,000 entries by default) */
  maxBlocks: number
  /** Bytes one request may bring */
  maxBytes: number
  /** Largest block (OrbitDB entries are small; a larger block is not an entry) */
  maxBlockBytes: number
  /** Heads in one request */
  maxHeads: number
  /** Streams served at once (each walks our blockstore) */
  maxStreams: number
}

export const DEFAULT_LOG_BLOCKS_LIMITS: LogBlocksLimits = {
  maxBlocks: 100_000,
  maxBytes: 64 * 1024 * 1024,
  maxBlockBytes: 256 * 1024,
  maxHeads: 16,
  maxStreams: 8
}

/** The client stops reading after this many blocks in a row that it already had */
const KNOWN_RUN = 64
/** While blocks are new, the client asks whether it had one of this many */
const PROBE_EVERY = 16
const DAG_CBOR = dagCbor.code
const SHA2_256 = sha256.code

/** Blocks this process served and stored through the protocol (see `transport.diagnostics().logBlocks`) */
export const logBlocksCounts = { served: 0, stored: 0, received: 0, invalid: 0, unsupported: 0 }

/** What a prefetch brought */
export interface PrefetchResult {
  received: number
  stored: number
  bytes: number
  /** Why the stream ended before the server's end mark, if it did */
  stopped?: 'known' | 'limit' | 'unsupported' | 'invalid-block' | 'unexpected-block' | 'error'
}

/**
 * The CIDs an OrbitDB entry links to (`next`, `refs`) and its writer's identity, as
 * base58btc strings (what OrbitDB writes; another base is converted), when it is an
 * entry. Not parsed: most of an entry's 16 `refs` were named by the entries before it.
 */
function links (block: Uint8Array): string[] {
  let value: unknown
  try {
    value = dagCbor.decode(block)
  } catch {
    return []
  }
  if (value == null || typeof value !== 'object') return []
  const entry = value as { next?: unknown, refs?: unknown, identity?: unknown }
  const out: string[] = []
  const add = (text: unknown): void => {
    if (typeof text !== 'string' || text.length > 128) return
    if (text.startsWith('z')) { out.push(text); return }
    try {
      out.push(CID.parse(text).toString(base58btc))
    } catch { /* not a CID: not followed */ }
  }
  for (const list of [entry.next, entry.refs]) if (Array.isArray(list)) for (const text of list) add(text)
  add(entry.identity)
  return out
}

/** A dag-cbor, sha2-256 CID (what an OrbitDB log links to), or undefined */
function logCid (text: string): CID | undefined {
  try {
    const cid = CID.parse(text, base58btc)
    return cid.code === DAG_CBOR && cid.multihash.code === SHA2_256 ? cid : undefined
  } catch {
    return undefined
  }
}

/** Whether `bytes` are the block `cid` names (dag-cbor, sha2-256) */
function matches (cid: CID, bytes: Uint8Array): boolean {
  if (cid.code !== DAG_CBOR || cid.multihash.code !== SHA2_256) return false
  return equals(createHash('sha256').update(bytes).digest(), cid.multihash.digest)
}

/**
 * Serve {@link LOG_BLOCKS_PROTOCOL}: read the heads a peer asks for, then send every
 * block we have below them, newest first, each as `CID bytes ‖ block`, and an empty
 * frame at the end. Only our blockstore is read. Returns the unhandle function.
 */
export async function serveLogBlocks (helia: Helia<NppLibp2p>, log: Logger, limits: LogBlocksLimits = DEFAULT_LOG_BLOCKS_LIMITS): Promise<() => Promise<void>> {
  const libp2p = helia.libp2p
  const handler = async (stream: Stream): Promise<void> => {
    const lp = lpStream(stream, { maxDataLength: limits.maxBlockBytes + 64 })
    let sent = 0
    try {
      const request = JSON.parse(new TextDecoder().decode((await lp.read()).subarray())) as { heads?: unknown }
      if (!Array.isArray(request.heads) || request.heads.length === 0 || request.heads.length > limits.maxHeads) throw new Error('expected { heads: string[] } with 1 to ' + limits.maxHeads + ' heads')
      const queue: CID[] = request.heads.map((h) => CID.parse(String(h)))
      const seen = new Set(queue.map((cid) => cid.toString(base58btc)))
      let bytes = 0
      while (queue.length > 0 && sent < limits.maxBlocks && bytes < limits.maxBytes) {
        const cid = queue.shift()!
        if (cid.code !== DAG_CBOR || cid.multihash.code !== SHA2_256) continue
        let block: Uint8Array
        try {
          block = await readBlock(helia, cid, { offline: true })
        } catch {
          continue // not ours: the client fetches it elsewhere
        }
        if (block.byteLength > limits.maxBlockBytes) continue
        await lp.write(encodeFrame(cid, block))
        sent++
        logBlocksCounts.served++
        bytes += block.byteLength
        for (const key of links(block)) {
          if (seen.has(key)) continue
          seen.add(key)
          const next = logCid(key)
          if (next != null) queue.push(next)
        }
      }
      await lp.write(new Uint8Array(0))
      await stream.close()
      log('sent %d log blocks to %s', sent, stream.id)
    } catch (err) {
      log('log blocks to %s ended after %d: %s', stream.id, sent, (err as Error).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
  await libp2p.handle(LOG_BLOCKS_PROTOCOL, handler, { maxInboundStreams: limits.maxStreams, maxOutboundStreams: limits.maxStreams })
  return async () => { await libp2p.unhandle(LOG_BLOCKS_PROTOCOL) }
}

/** One frame of a response: the block's CID bytes, then the block */
export function encodeFrame (cid: CID, block: Uint8Array): Uint8Array {
  const out = new Uint8Array(cid.bytes.byteLength + block.byteLength)
  out.set(cid.bytes, 0)
  out.set(block, cid.bytes.byteLength)
  return out
}

/**
 * Ask `peer` for the blocks below `heads` and store the ones we lack, each checked
 * against its CID. Never throws: whatever it did not bring, OrbitDB fetches over bitswap.
 */
export async function prefetchLogBlocks (
  helia: Helia<NppLibp2p>,
  peer: PeerId,
  heads: CID[],
  options: {
    signal?: AbortSignal
    log: Logger
    limits?: LogBlocksLimits
    /** Told of every block this stream will bring and brought, so that reads can wait for it */
    arrivals?: BlockArrivals
    /** Called once the first block (the head) is stored, or when the stream ends without it */
    onFirstBlock?: () => void
  }
): Promise<PrefetchResult> {
  const limits = options.limits ?? DEFAULT_LOG_BLOCKS_LIMITS
  const result: PrefetchResult = { received: 0, stored: 0, bytes: 0 }
  const incoming = options.arrivals?.begin()
  let first = options.onFirstBlock
  const firstDone = (): void => {
    first?.()
    first = undefined
  }
  let stream: Stream | undefined
  try {
    stream = await helia.libp2p.dialProtocol(peer, LOG_BLOCKS_PROTOCOL, { signal: options.signal })
    const lp = lpStream(stream, { maxDataLength: limits.maxBlockBytes + 64 })
    await lp.write(new TextEncoder().encode(JSON.stringify({ heads: heads.slice(0, limits.maxHeads).map(String) })), { signal: options.signal })
    let knownRun = 0
    // only blocks below the heads we asked for: each must be linked from one received before
    // (the server walks in that order), so a peer cannot fill our blockstore with anything else
    const expected = new Set(heads.slice(0, limits.maxHeads).map((cid) => cid.toString(base58btc)))
    for (const cid of expected) incoming?.expect(cid)
    while (true) {
      const frame = (await lp.read({ signal: options.signal })).subarray()
      if (frame.byteLength === 0) break
      const [cid, block] = CID.decodeFirst(frame)
      const key = cid.toString(base58btc)
      if (!expected.has(key)) {
        logBlocksCounts.invalid++
        result.stopped = 'unexpected-block'
        break
      }
      if (!matches(cid, block)) {
        logBlocksCounts.invalid++
        result.stopped = 'invalid-block'
        break
      }
      result.received++
      logBlocksCounts.received++
      for (const next of links(block)) {
        if (expected.has(next)) continue
        expected.add(next)
        incoming?.expect(next)
      }
      result.bytes += block.byteLength
      // whether we had it, asked of LevelDB for every block while they are known, else for
      // one in PROBE_EVERY (Helia's put skips a block it has: nothing is written twice)
      if ((knownRun > 0 || result.received % PROBE_EVERY === 1) && await helia.blockstore.has(cid)) {
        incoming?.arrived(key)
        if (++knownRun >= KNOWN_RUN) { result.stopped = 'known'; break }
      } else {
        knownRun = 0
        await helia.blockstore.put(cid, block, { signal: options.signal })
        incoming?.arrived(key, block)
        result.stored++
        logBlocksCounts.stored++
      }
      firstDone()
      if (result.received >= limits.maxBlocks || result.bytes >= limits.maxBytes) { result.stopped = 'limit'; break }
    }
    if (result.stopped == null) await stream.close()
    else stream.abort(new Error(`prefetch stopped: ${result.stopped}`))
  } catch (err) {
    const name = (err as Error).name
    result.stopped = name === 'UnsupportedProtocolError' ? 'unsupported' : 'error'
    if (result.stopped === 'unsupported') logBlocksCounts.unsupported++
    options.log('log blocks from %s: %s after %d', peer.toString(), (err as Error).message, result.received)
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    incoming?.end()
    firstDone()
  }
  return result
}
