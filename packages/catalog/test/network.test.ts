import { createBus } from '@npp/bus'
import { Documents, OWN_DATABASES, createTransport, onNotice, openOwnDatabase } from '@npp/transport'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanups, befriend, cidOf, next, profileOf, runCleanups, startPeer, subscribed, tempRepo } from './helpers.js'
import type { QueryEvent } from '../src/index.js'
import { waitFor } from 'xstate'
import type { AnyActorRef, InspectionEvent } from 'xstate'

afterEach(runCleanups)

const sourcesOf = (hit: { sources: Array<{ kind: string, username: string, peerId: string }> }): string[] =>
  hit.sources.map((s) => `${s.kind}:${s.username}`).sort()

describe('distributed queries across real peers', () => {
  it('returns the union of three catalogs with their sources, a piece held twice once, and follows live updates', async () => {
    const actorIds = new Set<string>()
    const inspect = (e: InspectionEvent): void => { if (e.type === '@xstate.actor') actorIds.add((e.actorRef as AnyActorRef).id) }
    const [alice, bob, carol] = await Promise.all([startPeer('alice', { catalog: { inspect } }), startPeer('bob'), startPeer('carol')])
    await alice.catalog.profile.set('username', 'alice')
    const [shared, bobOnly, carolOnly, cello, piano] = await Promise.all(['shared', 'bob', 'carol', 'cello', 'piano'].map(cidOf))
    await alice.catalog.add({ hash: shared!, instrument: 'violin', title: 'Chaconne', composer: 'Bach' })
    await alice.catalog.add({ hash: cello!, instrument: 'cello', title: 'Suite' })
    await bob.catalog.add({ hash: shared!, instrument: 'Violin', title: 'Chaconne', composer: 'Bach' })
    await bob.catalog.add({ hash: bobOnly!, instrument: 'violin', title: 'Meditation', notes: 'from Thaïs, after bach?' })
    await carol.catalog.add({ hash: carolOnly!, instrument: 'violin', title: 'Zigeunerweisen' })
    await carol.catalog.add({ hash: piano!, instrument: 'piano', title: 'Ballade', composer: 'Chopin' })
    // bob's own db also holds entries his catalog would refuse (an older or hostile client wrote them)
    const bobDb = await openOwnDatabase(bob.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    await bobDb.put({ hash: 'not-a-cid', instrument: 'violin', addedAt: 1 })
    await bobDb.put({ hash: await cidOf('no-instrument'), instrument: '', addedAt: 1 })
    await bobDb.put({ hash: await cidOf('huge'), instrument: 'violin', title: 'x'.repeat(100_000), addedAt: 1 })

    const replicated = Promise.all([
      next(alice.bus, 'catalog:replicated', (e) => e.peerId === bob.transport.peerId && e.pieces === 2 && e.invalid === 3),
      next(alice.bus, 'catalog:replicated', (e) => e.peerId === carol.transport.peerId && e.pieces === 2)
    ])
    await befriend(alice, bob)
    await befriend(alice, carol)
    await replicated

    const onBus: string[] = []
    // the bus events that once carried query results
    alice.bus.onAny((type: string) => { if (type === 'catalog:result' || type === 'catalog:done') onBus.push(type) })
    const run = alice.catalog.query({ instrument: 'VIOLIN' })
    const events: QueryEvent[] = []
    for await (const event of run) events.push(event)
    const done = events.at(-1)
    if (done?.type !== 'done') throw new Error('the last event must be done')
    expect(done.summary).toEqual({ answered: 3, timedOut: 0, failed: 0, syncing: 0, total: 3 })
    expect(done.hits.map((h) => h.hash).sort()).toEqual([shared, bobOnly, carolOnly].sort())
    const sharedHit = done.hits.find((h) => h.hash === shared)!
    expect(sourcesOf(sharedHit)).toEqual(['companion:bob', 'local:alice'])
    expect(sharedHit.sources.find((s) => s.kind === 'companion')?.peerId).toBe(bob.transport.peerId)
    expect(sourcesOf(done.hits.find((h) => h.hash === carolOnly)!)).toEqual(['companion:carol'])
    // one batch per source, each and the done with the run's id; nothing of it on the bus
    const batches = events.filter((e) => e.type === 'batch')
    expect(batches.map((b) => b.source.username).sort()).toEqual(['alice', 'bob', 'carol'])
    expect(events.map((e) => e.queryId)).toEqual(events.map(() => run.id))
    expect(onBus).toEqual([])
    expect((await run.done).summary.total).toBe(3)
    // the inspector saw the query, its sources and the replicas
    expect(actorIds).toContain(`query-${run.id}`)
    for (const id of ['source-local', `source-${bob.transport.peerId}`, `source-${carol.transport.peerId}`, `replica-${bob.transport.peerId}`]) {
      expect(actorIds).toContain(id)
    }

    // text (title, composer, notes; case-insensitive) and limit
    const bach = await alice.catalog.query({ text: 'BACH' }).done
    expect(bach.hits.map((h) => h.hash).sort()).toEqual([shared, bobOnly].sort())
    const limited = await alice.catalog.query({ instrument: 'violin', limit: 1 }).done
    expect(limited.hits.map((h) => h.title)).toEqual(['Chaconne'])
    expect(limited.summary.total).toBe(3)

    // a piece bob adds later reaches alice's index through the replicated db
    const later = await cidOf('later')
    const grown = next(alice.bus, 'catalog:replicated', (e) => e.peerId === bob.transport.peerId && e.pieces === 3)
    await bob.catalog.add({ hash: later, instrument: 'violin', title: 'Air' })
    await grown
    const again = await alice.catalog.query({ instrument: 'violin' }).done
    expect(again.hits.map((h) => h.hash)).toContain(later)
    expect(alice.catalog.replicas().map((r) => [r.username, r.state, r.size]).sort()).toEqual([['bob', 'ready', 3], ['carol', 'ready', 2]])
  })

  it('ends a stopped companion as failed and an unreplicated one as timedOut, without holding up the others', async () => {
    const [alice, bob, carol] = await Promise.all([startPeer('alice'), startPeer('bob'), startPeer('carol')])
    await alice.catalog.profile.set('username', 'alice')
    await alice.catalog.add({ hash: await cidOf('a'), instrument: 'flute' })
    await bob.catalog.add({ hash: await cidOf('b'), instrument: 'flute' })
    await carol.catalog.add({ hash: await cidOf('c'), instrument: 'flute' })
    const replicated = Promise.all([bob, carol].map(async (p) => await next(alice.bus, 'catalog:replicated', (e) => e.peerId === p.transport.peerId && e.pieces === 1)))
    await befriend(alice, bob)
    await befriend(alice, carol)
    await replicated
    expect((await alice.catalog.query({ instrument: 'flute' }).done).summary).toEqual({ answered: 3, timedOut: 0, failed: 0, syncing: 0, total: 3 })

    // dora is online but her catalog never replicates: a pieces address whose manifest nobody has
    const doraRepo = await tempRepo('dora')
    const dora = createTransport({ bus: createBus(), repo: doraRepo })
    await dora.start()
    cleanups.add(async () => { await dora.stop() })
    await alice.transport.connect(dora.multiaddrs[0]!)
    const nowhere = CID.create(1, 0x71, await sha256.digest(new TextEncoder().encode('no such db'))).toString(base58btc)
    const doraProfile = { userDb: `/orbitdb/${await cidOf('dora-user')}`, username: 'dora', pieces: `/orbitdb/${nowhere}`, nodeId: dora.peerId }
    alice.bus.emit('companion:online', { userDb: doraProfile.userDb, peerId: dora.peerId, profile: doraProfile })

    // carol stops mid-session
    const carolId = carol.transport.peerId
    const gone = next(alice.bus, 'peer:disconnected', (e) => e.peerId === carolId)
    await carol.catalog.stop()
    await carol.transport.stop()
    await gone

    const run = alice.catalog.query({ instrument: 'flute', timeoutMs: 1000 })
    const { summary, hits, sources } = await run.done
    expect(summary).toEqual({ answered: 2, timedOut: 1, failed: 1, syncing: 0, total: 2 })
    expect(hits.map((h) => h.sources[0]!.username).sort()).toEqual(['alice', 'bob'])
    const byName = Object.fromEntries(sources.map((s) => [s.source.username, s]))
    expect(byName.carol).toMatchObject({ status: 'failed', reason: 'offline' })
    expect(byName.dora).toMatchObject({ status: 'timedOut', reason: 'timeout', ms: 1000 })
    expect(byName.bob).toMatchObject({ status: 'answered', hits: 1 })
    expect(alice.catalog.replicas().find((r) => r.username === 'dora')?.state).toBe('opening')

    // companion:offline makes a source fail at once, even while still connected
    const bobProfile = await profileOf(bob)
    alice.bus.emit('companion:offline', { userDb: bobProfile.userDb, peerId: bob.transport.peerId, profile: bobProfile })
    const offline = await alice.catalog.query({ instrument: 'flute', timeoutMs: 300 }).done
    expect(offline.sources.find((s) => s.source.username === 'bob')).toMatchObject({ status: 'failed', reason: 'offline' })
    alice.bus.emit('companion:online', { userDb: bobProfile.userDb, peerId: bob.transport.peerId, profile: bobProfile })
    const back = await alice.catalog.query({ instrument: 'flute', timeoutMs: 300 }).done
    expect(back.sources.find((s) => s.source.username === 'bob')).toMatchObject({ status: 'answered', hits: 1 })

    // a removed companion is no source any more, and its replica is closed
    const doraReplica = alice.catalog.actor.getSnapshot().context.companions[doraProfile.userDb]!.replica!
    alice.bus.emit('companion:removed', { userDb: doraProfile.userDb, peerId: dora.peerId })
    await waitFor(doraReplica, (s) => s.status === 'done')
    expect(alice.catalog.actor.getSnapshot().children[doraReplica.id]).toBeUndefined()
    expect(alice.catalog.replicas().map((r) => r.username).sort()).toEqual(['bob', 'carol'])
    const after = await alice.catalog.query({ instrument: 'flute', timeoutMs: 300 }).done
    expect(after.sources.map((s) => s.source.username).sort()).toEqual(['alice', 'bob', 'carol'])
  })
})

describe('write access', () => {
  it("refuses another identity's writes to our pieces db, on its side and on ours", async () => {
    const [alice, mallory] = await Promise.all([startPeer('alice'), startPeer('mallory')])
    await alice.catalog.add({ hash: await cidOf('mine'), instrument: 'oboe' })
    await mallory.transport.connect(alice.transport.multiaddrs[0]!)
    const address = alice.catalog.piecesAddress
    const forged = await cidOf('forged')
    const doc = { hash: forged, instrument: 'oboe', addedAt: 1 }

    // 1. Through OrbitDB: her own access controller refuses the put
    const replica = await mallory.transport.orbitdb.open(address, { Database: Documents({ indexBy: 'hash' }) })
    await expect(replica.put(doc)).rejects.toThrow(/not allowed to write/)

    // 2. A correctly signed entry of hers for our log, published on the db's topic: our side refuses it
    const { Entry } = await import('@orbitdb/core') as unknown as { Entry: ForgeEntry }
    const identity = mallory.transport.orbitdb.identity
    const entry = await Entry.create(identity, address, { op: 'PUT', key: forged, value: doc }, undefined, { id: identity.publicKey, time: 1000 }, [], [])
    const { hash, bytes } = await Entry.encode(entry)
    const refused = new Promise<string>((resolve) => {
      // the db topic's gossipsub validator rejects it before OrbitDB sees it: her identity is not our writer
      const off = onNotice((notice) => {
        if (notice.source === 'pubsub' && notice.kind === 'not-a-writer') { off(); resolve(notice.detail) }
      })
    })
    const pubsub = mallory.transport.libp2p.services.pubsub
    await subscribed(pubsub, address, alice.transport.peerId)
    await pubsub.publish(address, bytes)
    expect(await refused).toContain(address)

    const own = await alice.transport.orbitdb.open(address, { Database: Documents({ indexBy: 'hash' }) })
    expect(await own.log.has(hash)).toBe(false)
    expect(await alice.catalog.get(forged)).toBeUndefined()
    expect((await alice.catalog.all()).map((p) => p.instrument)).toEqual(['oboe'])
  })
})

interface ForgeEntry {
  create(identity: unknown, logId: string, payload: unknown, encrypt: undefined, clock: { id: string, time: number }, next: string[], refs: string[]): Promise<object>
  encode(entry: object): Promise<{ hash: string, bytes: Uint8Array }>
}
