import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { LOGGED_IN_FULL, onNotice } from '../src/console-filter.js'
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

/** Resolve with the next `count` OrbitDB notices of `kind` (event-driven) */
async function notices (kind: string, count = 1): Promise<Notice[]> {
  const seen: Notice[] = []
  return await new Promise((resolve) => {
    const off = onNotice((notice) => {
      if (notice.source !== 'orbitdb' || notice.kind !== kind) return
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
})
