import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { LOGGED_IN_FULL, onNotice } from '../src/console-filter.js'
import { MAX_ENTRY_BYTES } from '../src/topic-validator.js'
import { Documents, KeyValue, openOwnDatabase, OWN_DATABASES } from '../src/index.js'
import { forgeEntry, startedTransport, waitSubscribed } from './helpers.js'
import type { Notice } from '../src/console-filter.js'
import type { Transport } from '../src/index.js'

// What `console.error` was before any transport existed: the filter forwards to it. It
// stands for stderr here (vitest prints console output itself).
const original = console.error
const stderr = vi.fn()
console.error = stderr
afterAll(() => { console.error = original })

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const peer = async (name: string): Promise<Transport> => await startedTransport(cleanups, name)

/** Resolve with the next `count` notices of `kind` from `source` (event-driven) */
async function notices (kind: string, count = 1, source: 'orbitdb' | 'pubsub' = 'orbitdb'): Promise<Notice[]> {
  const seen: Notice[] = []
  return await new Promise((resolve) => {
    const off = onNotice((notice) => {
      if (notice.source !== source || notice.kind !== kind) return
      seen.push(notice)
      if (seen.length === count) { off(); resolve(seen) }
    })
  })
}

const printed = (pattern: RegExp): boolean =>
  stderr.mock.calls.some((args) => pattern.test(args.map((a: unknown) => a instanceof Error ? a.message : String(a)).join(' ')))

describe('OrbitDB console reports', () => {
  it('counts refused remote entries by kind instead of printing them, and passes every other console.error through', async () => {
    const before = console.error
    const owner = await peer('owner')
    expect(console.error).not.toBe(before) // the filter is in front now
    await peer('second') // installed once per process: a second transport changes nothing
    const filter = console.error

    const mallory = await peer('mallory')
    expect(console.error).toBe(filter)
    const pieces = await openOwnDatabase(owner.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    await pieces.put({ hash: 'real', instrument: 'oboe' })
    // what reaches OrbitDB's own checks: entries that come in with a heads exchange, or on a
    // topic without our gossipsub validator (the next test is about the validator)
    owner.libp2p.services.pubsub.topicValidators.delete(pieces.address)
    await mallory.connect(owner.multiaddrs[0]!)
    const pubsub = mallory.libp2p.services.pubsub
    pubsub.subscribe(pieces.address)
    await waitSubscribed(pubsub, pieces.address, owner.peerId)
    const start = owner.diagnostics()
    expect(mallory.diagnostics()).toEqual(start) // process-wide

    // more forged entries than are logged in full: each is counted, none is printed
    const forgedCount = LOGGED_IN_FULL + 2
    const refused = notices('not-allowed', forgedCount)
    for (let i = 0; i < forgedCount; i++) {
      const payload = { op: 'PUT', key: `forged-${i}`, value: { hash: `forged-${i}`, instrument: 'kazoo' } }
      const forged = await forgeEntry('claimed-identity', pieces, owner.orbitdb.identity, mallory.orbitdb.identity, payload)
      await pubsub.publish(pieces.address, forged.bytes)
    }
    expect((await refused)[0]?.detail).toContain('is not allowed to write to the log')
    const wrongLog = notices('wrong-log')
    const other = await forgeEntry('wrong-log', pieces, owner.orbitdb.identity, owner.orbitdb.identity, { op: 'PUT', key: 'x', value: null })
    await pubsub.publish(pieces.address, other.bytes)
    await wrongLog
    // bytes that are no entry at all: OrbitDB's sync emits an error on db.events
    const undecodable = notices('sync-error')
    await pubsub.publish(pieces.address, new Uint8Array(64).fill(7))
    expect((await undecodable)[0]?.detail).toContain(pieces.address)

    const after = owner.diagnostics()
    expect(after.orbitdb['not-allowed'] - start.orbitdb['not-allowed']).toBe(forgedCount)
    expect(after.orbitdb['wrong-log'] - start.orbitdb['wrong-log']).toBe(1)
    expect(after.orbitdb['sync-error'] - start.orbitdb['sync-error']).toBe(1)
    expect(after.refusedEntries - start.refusedEntries).toBe(forgedCount + 1)
    expect(after.libp2p).toBe(0)
    expect(printed(/not allowed to write|doesn't match the log's id/)).toBe(false)
    expect((await pieces.all()).map((d) => d.value.hash)).toEqual(['real'])

    // anything else still reaches stderr unchanged: ours, and a listener's that OrbitDB calls
    console.error('npp: something else', 42)
    expect(stderr).toHaveBeenLastCalledWith('npp: something else', 42)
    const bare = Object.create(null) as object // String() of it throws: passed through all the same
    console.error(bare)
    expect(stderr).toHaveBeenLastCalledWith(bare)
    const notes = await openOwnDatabase(owner.orbitdb, 'notes', KeyValue<string>())
    notes.events.on('update', () => { console.error('from an update listener') })
    await notes.put('k', 'v')
    expect(stderr).toHaveBeenLastCalledWith('from an update listener')
    const refusal = new Error('Could not append entry:\nKey "x" is not allowed to write to the log')
    console.error(refusal) // OrbitDB's text, but not printed by OrbitDB: passed through
    expect(stderr).toHaveBeenLastCalledWith(refusal)
    expect(owner.diagnostics()).toEqual(after)
  })

  it('rejects forged entries on a db topic before OrbitDB sees them, counted by reason, and does not forward them', async () => {
    const owner = await peer('owner')
    const mallory = await peer('mallory')
    const carol = await peer('carol')
    const pieces = await openOwnDatabase(owner.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    await pieces.put({ hash: 'real', instrument: 'oboe' })
    expect(owner.libp2p.services.pubsub.topicValidators.has(pieces.address)).toBe(true)
    // carol listens on the topic through the owner only: what the owner forwards, she gets
    await carol.connect(owner.multiaddrs[0]!)
    const heard: Uint8Array[] = []
    carol.libp2p.services.pubsub.subscribe(pieces.address)
    carol.libp2p.services.pubsub.addEventListener('message', (e) => { if (e.detail.topic === pieces.address) heard.push(e.detail.data) })
    await mallory.connect(owner.multiaddrs[0]!)
    const pubsub = mallory.libp2p.services.pubsub
    pubsub.subscribe(pieces.address)
    await waitSubscribed(pubsub, pieces.address, owner.peerId)
    await waitSubscribed(owner.libp2p.services.pubsub, pieces.address, carol.peerId)
    const start = owner.diagnostics()

    const op = (key: string): unknown => ({ op: 'PUT', key, value: { hash: key, instrument: 'kazoo' } })
    const keyMismatch = notices('key-mismatch', 3, 'pubsub')
    const notWriter = notices('not-a-writer', 2, 'pubsub')
    const wrongLog = notices('wrong-log', 1, 'pubsub')
    const undecodable = notices('undecodable', 1, 'pubsub')
    const tooLarge = notices('too-large', 1, 'pubsub')
    const rejected: Uint8Array[] = []
    // the owner's identity with mallory's key and signature; mallory's own identity; another log's id
    for (let i = 0; i < 3; i++) rejected.push((await forgeEntry('claimed-identity', pieces, owner.orbitdb.identity, mallory.orbitdb.identity, op(`claimed-${i}`))).bytes)
    for (let i = 0; i < 2; i++) rejected.push((await forgeEntry('claimed-identity', pieces, mallory.orbitdb.identity, mallory.orbitdb.identity, op(`own-${i}`))).bytes)
    rejected.push((await forgeEntry('wrong-log', pieces, owner.orbitdb.identity, owner.orbitdb.identity, op('other-log'))).bytes)
    rejected.push(new Uint8Array(64).fill(7), new Uint8Array(MAX_ENTRY_BYTES + 1))
    for (const bytes of rejected) await pubsub.publish(pieces.address, bytes)
    await Promise.all([keyMismatch, notWriter, wrongLog, undecodable, tooLarge])
    // an entry the validator cannot judge (the owner's identity and key, a signature that
    // does not verify) is passed on: to OrbitDB, which refuses it, and to carol
    const passing = await forgeEntry('claimed-identity', pieces, owner.orbitdb.identity, mallory.orbitdb.identity, op('passing'))
    const forwarded = { ...passing.entry, key: owner.orbitdb.identity.publicKey }
    const { Entry } = await import('@orbitdb/core') as unknown as { Entry: { encode(entry: object): Promise<{ bytes: Uint8Array }> } }
    const passingBytes = (await Entry.encode(forwarded)).bytes
    const badSignature = notices('bad-signature')
    await pubsub.publish(pieces.address, passingBytes)
    await badSignature
    if (!heard.some((b) => Buffer.from(b).equals(passingBytes))) {
      await new Promise<void>((resolve) => {
        carol.libp2p.services.pubsub.addEventListener('message', (e) => { if (Buffer.from(e.detail.data).equals(passingBytes)) resolve() })
      })
    }

    const after = owner.diagnostics()
    const diff = Object.fromEntries(Object.entries(after.rejectedOnTopics).map(([k, v]) => [k, v - start.rejectedOnTopics[k as keyof typeof start.rejectedOnTopics]]).filter(([, v]) => v !== 0))
    expect(diff).toEqual({ 'key-mismatch': 3, 'not-a-writer': 2, 'wrong-log': 1, undecodable: 1, 'too-large': 1 })
    // OrbitDB saw only the passing one
    expect(after.orbitdb['not-allowed']).toBe(start.orbitdb['not-allowed'])
    expect(after.orbitdb['wrong-log']).toBe(start.orbitdb['wrong-log'])
    expect(after.orbitdb['sync-error']).toBe(start.orbitdb['sync-error'])
    expect(after.orbitdb['bad-signature'] - start.orbitdb['bad-signature']).toBe(1)
    // nothing rejected travelled on to carol
    expect(heard.filter((h) => rejected.some((r) => Buffer.from(r).equals(h)))).toEqual([])
    expect((await pieces.all()).map((d) => d.value.hash)).toEqual(['real'])
    // closed, the db's topic is no longer guarded (a topic validator per open db, never left behind)
    await pieces.close()
    expect(owner.libp2p.services.pubsub.topicValidators.has(pieces.address)).toBe(false)
  })
})
