import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import { createBus } from '@npp/bus'
import { JsonLinesChild } from '@npp/testkit'
import * as Block from 'multiformats/block'
import { sha256 } from 'multiformats/hashes/sha2'
import { createTransport } from '../src/index.js'
import type { Database, Identity, Transport } from '../src/index.js'

export type { ChildEvent } from '@npp/testkit'

/** A fresh temporary folder for a peer's repo, removed by the returned cleanup */
export async function tempRepo (name: string): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `npp-${name}-`))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** A transport running in another OS process (test/fixtures/peer-process.mjs) */
export class PeerProcess extends JsonLinesChild {
  constructor (repo: string) {
    super(fileURLToPath(new URL('./fixtures/peer-process.mjs', import.meta.url)), [repo], { name: 'peer-process' })
  }
}

type PubSub = Transport['libp2p']['services']['pubsub']

/** Resolve once `peerId` is subscribed to `topic` as far as `pubsub` knows (event-driven) */
export async function waitSubscribed (pubsub: PubSub, topic: string, peerId: string): Promise<void> {
  const has = (): boolean => pubsub.getSubscribers(topic).some((p) => p.toString() === peerId)
  if (has()) return
  await new Promise<void>((resolve) => {
    const onChange = (): void => { if (has()) { pubsub.removeEventListener('subscription-change', onChange); resolve() } }
    pubsub.addEventListener('subscription-change', onChange)
  })
}

type SigningIdentity = Identity & { sign(identity: unknown, data: Uint8Array): Promise<string> }

/**
 * How an entry for `db`'s log is forged (as tests/reliability's hostile peer does):
 * - `claimed-identity`: names the owner's identity, carries the signer's key and valid
 *   signature (OrbitDB 4.0.0 accepts it; our access controller refuses it: `not-allowed`)
 * - `wrong-log`: the owner's identity, but for another log id (`wrong-log`)
 */
export type ForgeKind = 'claimed-identity' | 'wrong-log'

/** A correctly encoded entry for `db`'s log, forged as `kind` says, signed by `signer` */
export async function forgeEntry (kind: ForgeKind, db: Database, owner: Identity, signer: Identity, payload: unknown): Promise<{ hash: string, bytes: Uint8Array, entry: Record<string, unknown> }> {
  const { Entry } = await import('@orbitdb/core') as unknown as { Entry: { encode(entry: object): Promise<{ hash: string, bytes: Uint8Array }> } }
  const heads = await db.log.heads()
  const value = {
    id: kind === 'wrong-log' ? `${db.address}-not-this-one` : db.address,
    payload,
    next: heads.map((h) => h.hash),
    refs: [],
    clock: { id: owner.publicKey, time: 1_000 + heads.length },
    v: 2
  }
  const { bytes } = await Block.encode({ value, codec: dagCbor, hasher: sha256 })
  const entry = { ...value, key: signer.publicKey, identity: owner.hash, sig: await (signer as SigningIdentity).sign(signer, bytes) }
  const encoded = await Entry.encode(entry)
  return { ...encoded, entry }
}

/** Start a transport on a fresh repo; `cleanups` gets its stop and the repo's removal (run them in reverse) */
export async function startedTransport (cleanups: Array<() => Promise<void>>, name: string): Promise<Transport> {
  const tmp = await tempRepo(name)
  cleanups.push(tmp.cleanup)
  const transport = createTransport({ bus: createBus(), repo: tmp.dir })
  await transport.start()
  cleanups.push(async () => { await transport.stop() })
  return transport
}
