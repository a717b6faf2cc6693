/**
 * Blocks by CID from Helia: our blockstore first, then bitswap, asking the peers that
 * have them where we know them (see ./providers.ts).
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { concat } from 'uint8arrays/concat'
import type { PeerId } from '@libp2p/interface'

/** The manifest of a db, as stored at its address */
export interface Manifest {
  name: string
  type: string
  accessController: string
  meta?: unknown
}

/** How a block is fetched */
export interface BlockOptions {
  signal?: AbortSignal
  /**
   * Peers known to have the block. Helia's bitswap (patched, see
   * `patches/@helia__bitswap@3.2.3.patch`) then sends the want to them alone, and to
   * every connected peer only when none of them is connected or all answered that
   * they do not have it.
   */
  providers?: PeerId[]
  /** Read our blockstore only (Helia's `offline`): a block we do not have is an error, never a want */
  offline?: boolean
}

/** What {@link readBlock} needs of Helia: its blockstore's `get`, a stream of chunks */
export interface BlockReader {
  blockstore: { get(cid: CID, options?: BlockOptions): AsyncIterable<Uint8Array> | Iterable<Uint8Array> }
}

/**
 * Read a db's manifest (its name, type and access controller) without opening
 * it; fetched over bitswap if we do not have it. Honours `signal`.
 */
export async function readManifest (ipfs: BlockReader, address: string, options: BlockOptions = {}): Promise<Manifest> {
  const cid = CID.parse(address.replace(/^\/orbitdb\//, ''))
  return dagCbor.decode<Manifest>(await readBlock(ipfs, cid, options))
}

/**
 * A block's bytes, from our blockstore or over bitswap. Helia 6's `blockstore.get` is an
 * async generator of chunks: awaiting it (without iterating) fetches nothing.
 */
export async function readBlock (ipfs: BlockReader, cid: CID, options: BlockOptions = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  const { signal, providers, offline } = options
  for await (const chunk of ipfs.blockstore.get(cid, { signal, ...(providers == null ? {} : { providers }), ...(offline === true ? { offline } : {}) })) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0]! : concat(chunks)
}
