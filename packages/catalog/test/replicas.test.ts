import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from 'xstate'
import { befriend, cidOf, next, profileOf, runCleanups, startPeer } from './helpers.js'
import type { TestPeer } from './helpers.js'
import type { ReplicaRef } from '../src/replica.machine.js'
import type { CompanionProfile } from '@npp/bus'

afterEach(runCleanups)

/** The replica actor of a companion, as the catalog holds it */
function replicaOf (peer: TestPeer, userDb: string): ReplicaRef {
  const replica = peer.catalog.actor.getSnapshot().context.companions[userDb]?.replica
  if (replica == null) throw new Error(`no replica for ${userDb}`)
  return replica
}

/**
 * Bob, with one viola piece, goes away after alice connected to him and
 * before she fetched anything of his catalog; then alice learns that he is a
 * companion (as discovery would, from his announcement). Returns his profile.
 */
async function bobLeavesBeforeAliceOpensHisCatalog (alice: TestPeer, bob: TestPeer): Promise<CompanionProfile> {
  await bob.catalog.add({ hash: await cidOf('etude'), instrument: 'viola', title: 'Étude' })
  const profile = await profileOf(bob)
  await alice.transport.connect(bob.transport.multiaddrs[0]!)
  const gone = next(alice.bus, 'peer:disconnected', (e) => e.peerId === profile.nodeId)
  await bob.catalog.stop()
  await bob.transport.stop()
  await gone
  alice.bus.emit('companion:discovered', { profile, multiaddrs: [] })
  const failed = await waitFor(replicaOf(alice, profile.userDb), (s) => s.matches('failed'), { timeout: 15_000 })
  expect(failed.context.reason).toBe('open-timeout')
  expect(alice.catalog.replicas()).toEqual([expect.objectContaining({ username: 'bob', state: 'failed', online: true })])
  const { sources } = await alice.catalog.query({ instrument: 'viola', timeoutMs: 1000 }).done
  expect(sources.find((s) => s.source.peerId === profile.nodeId)).toMatchObject({ status: 'failed', reason: 'offline' })
  return profile
}

async function expectAnswers (alice: TestPeer, profile: CompanionProfile): Promise<void> {
  const { sources, hits } = await alice.catalog.query({ instrument: 'viola', timeoutMs: 5000 }).done
  expect(sources.find((s) => s.source.peerId === profile.nodeId)).toMatchObject({ status: 'answered', hits: 1 })
  expect(hits.map((h) => h.title)).toEqual(['Étude'])
  expect(alice.catalog.replicas()).toEqual([expect.objectContaining({ username: 'bob', state: 'ready', size: 1, entries: 1 })])
  // the encoded size of his one entry, as the replica's follower counted it
  expect(alice.catalog.replicas()[0]!.bytes).toBeGreaterThan(100)
}

describe('replicas of companions\' catalogs', () => {
  it('answers from a companion\'s catalog while it syncs, marked syncing with its progress, and all of it once synced', async () => {
    const COUNT = 120
    const alice = await startPeer('alice')
    const bob = await startPeer('bob')
    for (let i = 0; i < COUNT; i++) await bob.catalog.add({ hash: await cidOf(`piece-${i}`), instrument: 'viola', title: `Piece ${i}` })
    // one of bob's oldest entries is held back on alice's side until released: her join of his log waits there
    const entries = await bob.catalog.actor.getSnapshot().context.stores!.pieces.log.values()
    const held = entries[5]!.hash
    let release = (): void => {}
    const released = new Promise<void>((resolve) => { release = resolve })
    const blockstore = alice.transport.helia.blockstore as unknown as { get: (cid: CID, options?: unknown) => AsyncGenerator<Uint8Array> }
    const get = blockstore.get
    blockstore.get = async function * (cid: CID, options?: unknown) {
      if (cid.toString(base58btc) === held) await released
      yield * get.call(this, cid, options)
    }
    const profile = await befriend(alice, bob)
    const partial = await next(alice.bus, 'catalog:syncing', (e) => e.peerId === profile.nodeId && e.done > 0)
    expect(partial.known).toBe(COUNT)
    expect(partial.done).toBeLessThan(COUNT)
    const during = await alice.catalog.query({ instrument: 'viola', timeoutMs: 5000 }).done
    const bobs = during.sources.find((s) => s.source.peerId === profile.nodeId)!
    expect(bobs).toMatchObject({ status: 'answered', syncing: { known: COUNT } })
    expect(bobs.hits).toBeGreaterThan(0)
    expect(bobs.hits).toBeLessThan(COUNT)
    expect(bobs.syncing!.done).toBeGreaterThanOrEqual(bobs.hits)
    expect(during.summary).toMatchObject({ answered: 2, syncing: 1 })
    expect(alice.catalog.replicas()).toEqual([expect.objectContaining({ username: 'bob', state: 'waiting', known: COUNT })])

    const synced = next(alice.bus, 'catalog:replicated', (e) => e.peerId === profile.nodeId && e.pieces === COUNT)
    release()
    await synced
    const after = await alice.catalog.query({ instrument: 'viola', timeoutMs: 5000 }).done
    expect(after.sources.find((s) => s.source.peerId === profile.nodeId)).toMatchObject({ status: 'answered', hits: COUNT })
    expect(after.sources.find((s) => s.source.peerId === profile.nodeId)?.syncing).toBeUndefined()
    expect(after.summary).toMatchObject({ syncing: 0, total: COUNT })
    blockstore.get = get
  })

  it('opens a replica that failed (the companion went away during the open) again when the companion comes online', async () => {
    // no retry by backoff within this test: only companion:online brings the replica back
    const alice = await startPeer('alice', { catalog: { replicas: { openTimeoutMs: 500, retryInitialMs: 600_000, retryMaxMs: 600_000 } } })
    const bob = await startPeer('bob')
    const profile = await bobLeavesBeforeAliceOpensHisCatalog(alice, bob)
    alice.bus.emit('companion:offline', { userDb: profile.userDb, peerId: profile.nodeId, profile })
    expect(replicaOf(alice, profile.userDb).getSnapshot().context.online).toBe(false)

    // bob is back (same repo: same peer id and catalog); the companions package says he is online
    const back = await startPeer('bob', { repo: bob.repo })
    expect(back.transport.peerId).toBe(profile.nodeId)
    const replicated = next(alice.bus, 'catalog:replicated', (e) => e.peerId === profile.nodeId && e.pieces === 1)
    await alice.transport.connect(back.transport.multiaddrs[0]!)
    alice.bus.emit('companion:online', { userDb: profile.userDb, peerId: profile.nodeId, profile })
    await replicated
    await expectAnswers(alice, profile)
  })

  it('tries a failed replica again with backoff while its companion is online', async () => {
    const alice = await startPeer('alice', { catalog: { replicas: { openTimeoutMs: 500, retryInitialMs: 100, retryMaxMs: 500 } } })
    const bob = await startPeer('bob')
    const profile = await bobLeavesBeforeAliceOpensHisCatalog(alice, bob)

    // bob is back and connected; no bus event tells the catalog
    const back = await startPeer('bob', { repo: bob.repo })
    const replicated = next(alice.bus, 'catalog:replicated', (e) => e.peerId === profile.nodeId && e.pieces === 1)
    await alice.transport.connect(back.transport.multiaddrs[0]!)
    await replicated
    await expectAnswers(alice, profile)
  })

  it('refuses a pieces address whose manifest is not a valid OrbitDB manifest, with the reason, and does not retry it', async () => {
    const alice = await startPeer('alice', { catalog: { replicas: { retryInitialMs: 100 } } })
    const bob = await startPeer('bob')
    await alice.transport.connect(bob.transport.multiaddrs[0]!)
    /** A block of bob's, as the address of a "db" */
    const address = async (bytes: Uint8Array): Promise<string> => {
      const cid = CID.create(1, dagCbor.code, await sha256.digest(bytes))
      await bob.transport.helia.blockstore.put(cid, bytes)
      return `/orbitdb/${cid.toString(base58btc)}`
    }
    const user = await profileOf(bob)
    const cases = [
      { name: 'null', pieces: await address(dagCbor.encode(null)) },
      { name: 'no-access-controller', pieces: await address(dagCbor.encode({ name: 'pieces', type: 'documents' })) },
      { name: 'not-cbor', pieces: await address(new TextEncoder().encode('just some text')) }
    ]
    for (const c of cases) {
      // one fake companion per case, all on bob's node
      const profile: CompanionProfile = { ...user, userDb: `/orbitdb/${await cidOf(c.name)}`, username: c.name, pieces: c.pieces }
      alice.bus.emit('companion:discovered', { profile, multiaddrs: [] })
      const failed = await waitFor(replicaOf(alice, profile.userDb), (s) => s.matches('failed'), { timeout: 15_000 })
      expect(failed.context.reason, c.name).toBe('invalid-manifest')
      expect(failed.context.error?.message, c.name).toContain(c.pieces)
    }
    const { sources } = await alice.catalog.query({ timeoutMs: 2000 }).done
    expect(sources.filter((s) => s.source.kind === 'companion').map((s) => [s.source.username, s.status, s.reason]).sort()).toEqual(
      cases.map((c) => [c.name, 'failed', 'invalid-manifest']).sort()
    )
    // a permanent failure: the companion being online brings no new attempt
    alice.bus.emit('companion:online', { userDb: `/orbitdb/${await cidOf('null')}`, peerId: user.nodeId, profile: { ...user, userDb: `/orbitdb/${await cidOf('null')}`, username: 'null', pieces: cases[0]!.pieces } })
    expect(replicaOf(alice, `/orbitdb/${await cidOf('null')}`).getSnapshot().value).toBe('failed')
  })
})
