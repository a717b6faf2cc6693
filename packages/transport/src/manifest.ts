/**
 * One inspection of a remote db before anything opens it: its manifest and its
 * access controller's manifest, both untrusted, both validated here, for
 * discovery (announced `user` dbs) and the catalog (companions' `pieces`).
 */
import { describeIssues } from '@npp/kit'
import { z } from 'zod'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { readBlock } from './blocks.js'
import type { BlockOptions, BlockReader, Manifest } from './blocks.js'
import { providersOf } from './providers.js'
import type { NppLibp2p } from './node.js'
import type { Helia } from '@helia/interface'

const text = (max: number): z.ZodString => z.string().max(max)

/** A db manifest as OrbitDB stores it at the db's address */
export const ManifestSchema = z.object({
  name: text(1024),
  type: z.string().min(1).max(64),
  accessController: text(1024).regex(/^\/ipfs\/[1-9A-HJ-NP-Za-km-z]+$/, 'expected /ipfs/<CID>'),
  meta: z.unknown().optional()
})

/** The manifest of an `IPFSAccessController` */
export const AccessManifestSchema = z.object({
  type: z.string().max(64),
  write: z.array(text(1024)).max(1024)
})

/** Why a db did not pass {@link inspectDatabase} */
export type InspectionProblem =
  /** no block at the address could be fetched (not there, or the peer went away) */
  | 'no-manifest'
  /** the block is not an OrbitDB manifest */
  | 'bad-manifest'
  /** the manifest names another db type than the one asked for */
  | 'wrong-type'
  /** the access controller's manifest could not be fetched */
  | 'unreadable-access'
  /** the access controller is not an owner-only `IPFSAccessController` (`*` or nobody may write) */
  | 'bad-access'

export type DatabaseInspection =
  | { ok: true, manifest: Manifest, writers: string[] }
  | { ok: false, problem: InspectionProblem, detail: string }

export interface InspectOptions {
  /** The db type expected (`keyvalue`, `documents`, `events`); any type when left out */
  type?: string
  /** Aborts the fetches; an aborted inspection rejects with the signal's reason */
  signal?: AbortSignal
  /** The peer (id) that announced or owns the db: the manifests are asked of it first (see `OpenOptions.from`) */
  from?: string
}

const message = (err: unknown): string => err instanceof Error ? err.message : String(err)

/**
 * A block fetched, then decoded: a fetch that failed (not there, a stream reset under
 * load) and bytes that are no dag-cbor are told apart by where they failed, never by
 * an error's text (a fetch error that said "unexpected" once made a legitimate db
 * final as `wrong-type`)
 */
async function fetchAndDecode (helia: BlockReader, cid: string, options: BlockOptions): Promise<{ fetched: false, error: unknown } | { fetched: true, value: unknown, error?: unknown }> {
  let parsed: CID
  try {
    parsed = CID.parse(cid)
  } catch (error) {
    return { fetched: true, value: undefined, error } // what points here is wrong, not the network
  }
  let bytes: Uint8Array
  try {
    bytes = await readBlock(helia, parsed, options)
  } catch (error) {
    return { fetched: false, error }
  }
  try {
    return { fetched: true, value: dagCbor.decode(bytes) }
  } catch (error) {
    return { fetched: true, value: undefined, error }
  }
}

/**
 * Read and check the manifest of the db at `address` and of its access
 * controller, fetching them over bitswap if needed: a db of the expected
 * `type`, write-restricted by an `IPFSAccessController` to named writers.
 * Every problem of the db itself is an answer (`ok: false` with a
 * {@link InspectionProblem}); it rejects only when `signal` aborted.
 *
 * @example
 * ```ts
 * const inspection = await inspectDatabase(transport.helia, address, { type: 'documents', signal })
 * if (!inspection.ok) console.warn(inspection.problem, inspection.detail)
 * else console.log('written only by', inspection.writers)
 * ```
 */
export async function inspectDatabase (helia: Helia<NppLibp2p>, address: string, options: InspectOptions = {}): Promise<DatabaseInspection> {
  const { type, signal } = options
  const fetch = { signal, providers: providersOf(options.from) }
  let cid = address.replace(/^\/orbitdb\//, '')
  const aborted = (): boolean => signal?.aborted === true
  const raw = await fetchAndDecode(helia, cid, fetch)
  if (aborted()) throw signal?.reason
  if (!raw.fetched) return { ok: false, problem: 'no-manifest', detail: `the manifest of ${address} could not be fetched: ${message(raw.error)}` }
  if (raw.error != null) return { ok: false, problem: 'bad-manifest', detail: `${address} does not point to an OrbitDB manifest (${message(raw.error)})` }
  const manifest = ManifestSchema.safeParse(raw.value)
  if (!manifest.success) return { ok: false, problem: 'bad-manifest', detail: `${address} is not a valid OrbitDB manifest (${describeIssues(manifest.error)})` }
  if (type != null && manifest.data.type !== type) {
    return { ok: false, problem: 'wrong-type', detail: `${address} is a ${manifest.data.type} db; expected ${type}` }
  }
  cid = manifest.data.accessController.replace(/^\/ipfs\//, '')
  const rawAccess = await fetchAndDecode(helia, cid, fetch)
  if (aborted()) throw signal?.reason
  if (!rawAccess.fetched) return { ok: false, problem: 'unreadable-access', detail: `the access controller of ${address} could not be read: ${message(rawAccess.error)}` }
  if (rawAccess.error != null) return { ok: false, problem: 'bad-access', detail: `the access controller of ${address} is not a manifest (${message(rawAccess.error)})` }
  const access = AccessManifestSchema.safeParse(rawAccess.value)
  if (!access.success || access.data.type !== 'ipfs') {
    return { ok: false, problem: 'bad-access', detail: `the access controller of ${address} is not an IPFSAccessController` }
  }
  if (access.data.write.includes('*') || access.data.write.length === 0) {
    return { ok: false, problem: 'bad-access', detail: `${address} is not write-restricted to its owner` }
  }
  return { ok: true, manifest: manifest.data as Manifest, writers: [...access.data.write].sort() }
}
