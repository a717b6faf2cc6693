/**
 * Our access controller for OrbitDB: OrbitDB 4.0.0's `IPFSAccessController` with the
 * checks it leaves out (see {@link IPFSAccessController}), registered under OrbitDB's
 * own `ipfs` type when this module loads.
 */
import * as core from '@orbitdb/core'
import { readBlock } from './blocks.js'
import { accessProviders } from './providers.js'
import { WriterCheck } from './writer-check.js'
import { verifiedByWriter } from './verified.js'
import type { BlockReader } from './blocks.js'
import type { AccessController, AccessControllerFactory, Entry, Operation } from './orbitdb.js'
import type { WriterCheckDeps } from './writer-check.js'
import type { CID } from 'multiformats/cid'

type CoreAccessController = AccessController & { [key: string]: unknown }
export type CoreAccessControllerArgs = {
  identities: { getIdentity(hash: string): Promise<{ publicKey: string } | undefined> }
  orbitdb?: {
    identity?: { hash: string, id: string, publicKey?: string }
    ipfs?: BlockReader & { blockstore: { has(cid: CID): Promise<boolean> } }
  }
  [key: string]: unknown
}

/** Entries our access controllers refused before any further check, by reason (process-wide; see `transport.diagnostics()`) */
export const refusedIdentities: Record<'unknown-identity' | 'not-a-writer' | 'bad-identity', number> = { 'unknown-identity': 0, 'not-a-writer': 0, 'bad-identity': 0 }
const coreIPFSAccessController = core.IPFSAccessController as (options?: { write?: string[] }) => (args: CoreAccessControllerArgs) => Promise<CoreAccessController>

/** What a db's {@link WriterCheck} reads: its writers, our identity, and the blocks and identities OrbitDB has */
export function writerCheckDeps (args: CoreAccessControllerArgs, controller: { write?: unknown }): WriterCheckDeps {
  const helia = args.orbitdb?.ipfs
  // the writers' identities are asked of the peer the db is opened from (see createOrbitDB)
  const providers = accessProviders.get(args.address)
  return {
    write: Array.isArray(controller.write) ? controller.write as string[] : [],
    ...(args.orbitdb?.identity == null ? {} : { own: { hash: args.orbitdb.identity.hash, id: args.orbitdb.identity.id, publicKey: args.orbitdb.identity.publicKey } }),
    has: async (cid) => await helia?.blockstore.has(cid) ?? false,
    fetch: async (cid, signal) => { if (helia != null) await readBlock(helia, cid, { signal, providers }) },
    getIdentity: async (hash) => await args.identities.getIdentity(hash) as { id: string, publicKey: string } | undefined
  }
}

/**
 * OrbitDB 4.0.0's `IPFSAccessController`, with the check OrbitDB leaves out: the
 * entry's signing key must be the public key of the identity it claims. OrbitDB
 * checks write access against `entry.identity` but verifies the signature against
 * `entry.key`, which the writer chooses; without this check anyone can write into
 * an owner-only db by naming the owner's identity hash and signing with their own
 * key (found by the reliability suite's hostile peer, see tests/reliability).
 * Same `type` (`ipfs`) and manifest as the original, so db addresses do not change.
 */
export const IPFSAccessController = Object.assign(
  (options?: { write?: string[] }): AccessControllerFactory => {
    const create = coreIPFSAccessController(options)
    return (async (args: CoreAccessControllerArgs) => {
      const controller = await create(args)
      const writers = new WriterCheck(writerCheckDeps(args, controller))
      return {
        ...controller,
        precheck: (identity: unknown, key: unknown) => writers.precheck(identity, key),
        async canAppend (entry: Entry & { key?: unknown }): Promise<boolean> {
          // decided from memory where possible, never waiting long on a block nobody has
          const writer = await writers.check(entry.identity)
          if (!writer.ok) {
            refusedIdentities[writer.reason]++
            return false
          }
          if (typeof entry.key !== 'string' || writer.publicKey !== entry.key) return false
          if (!await controller.canAppend(entry)) return false
          // a replica hears of the entry now, not when the whole join is done
          await verifiedByWriter(args.orbitdb?.identity, entry as Entry<Operation>)
          return true
        }
      }
    }) as AccessControllerFactory
  },
  { type: 'ipfs' as const }
)
// Registered under OrbitDB's own `ipfs` type: OrbitDB builds the access controller of
// every db opened *by address* (companions' dbs, announced dbs) from this registry.
;(core.useAccessController as (controller: unknown) => void)(IPFSAccessController)
