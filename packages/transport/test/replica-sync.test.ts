/**
 * How a db opened `from` a peer fills: every entry of a join is announced
 * (`verified` on `db.events`) as soon as it passed the writer and signature
 * checks, before the join adds them to the log all at once (src/verified.ts);
 * and a join that failed is tried again with the source, which OrbitDB alone
 * never does (src/exchange-retry.ts: the cause of bench:query's stalls).
 */
import { base58btc } from 'multiformats/bases/base58'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Documents, openOwnDatabase, startSync } from '../src/index.js'
import { startedTransport } from './helpers.js'
import type { DocumentsDatabase, Entry, Operation, Transport } from '../src/index.js'
import type { CID } from 'multiformats/cid'

const ENTRIES = 200
type Doc = { hash: string, title: string }
const cleanups: Array<() => Promise<void>> = []
let owner: Transport
let reader: Transport

beforeAll(async () => {
  owner = await startedTransport(cleanups, 'replica-sync-owner')
  reader = await startedTransport(cleanups, 'replica-sync-reader')
  await reader.connect(owner.multiaddrs[0]!)
})

afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function ownerDb (name: string): Promise<DocumentsDatabase<Doc>> {
  const db = await openOwnDatabase(owner.orbitdb, name, Documents<Doc>({ indexBy: 'hash' }))
  for (let i = 0; i < ENTRIES; i++) await db.put({ hash: `piece-${i}`, title: `Piece ${i}` })
  return db
}

/** Resolves when `replica` holds `count` entries (checked on every update and join) */
async function holding (replica: DocumentsDatabase, count: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const check = async (): Promise<void> => { if ((await replica.log.values()).length >= count) resolve() }
    replica.events.on('update', () => { void check() })
    replica.events.on('join', () => { void check() })
    void check()
  })
}

describe('a replica opened from its source', () => {
  it('hears of every entry as it is verified, before the join adds them to the log', async () => {
    const db = await ownerDb('replica-sync-verified')
    const replica = await reader.orbitdb.open(db.address, { Database: Documents({ indexBy: 'hash' }), from: owner.peerId, sync: false }) as DocumentsDatabase
    const verified: string[] = []
    let verifiedAtFirstUpdate: number | undefined
    replica.events.on('verified', (entry: Entry<Operation>) => { verified.push(entry.hash) })
    replica.events.on('update', () => { verifiedAtFirstUpdate ??= verified.length })
    const filled = holding(replica, ENTRIES)
    await startSync(reader.libp2p, replica)
    await filled
    // all of them were announced before the log had any of them
    expect(verifiedAtFirstUpdate).toBe(ENTRIES)
    expect(new Set(verified)).toEqual(new Set((await db.log.values()).map((e) => e.hash)))
    await replica.close()
    await db.close()
  })

  it('exchanges heads with its source again after a join failed, and gets the whole log', async () => {
    const db = await ownerDb('replica-sync-retry')
    const values = await db.log.values()
    // one entry in the middle of the log cannot be read until the first exchange with the owner is over
    const lost = values[Math.floor(values.length / 2)]!.hash
    // (neither read nor stored: a log-blocks stream hands what it stores to the join directly)
    const blockstore = reader.helia.blockstore as unknown as { get: (cid: CID, options?: unknown) => unknown, put: (cid: CID, ...rest: unknown[]) => Promise<unknown> }
    const { get, put } = blockstore
    let lose = true
    blockstore.get = function (cid: CID, options?: unknown) {
      if (lose && cid.toString(base58btc) === lost) throw new Error('block lost (injected by the test)')
      return get.call(this, cid, options)
    }
    blockstore.put = async function (cid: CID, ...rest: unknown[]) {
      if (lose && cid.toString(base58btc) === lost) throw new Error('block lost (injected by the test)')
      return await put.call(this, cid, ...rest)
    }
    cleanups.push(async () => { Object.assign(blockstore, { get, put }) })
    const replica = await reader.orbitdb.open(db.address, { Database: Documents({ indexBy: 'hash' }), from: owner.peerId, sync: false }) as DocumentsDatabase
    const before = reader.diagnostics().exchangeRetries
    // OrbitDB ends an exchange whose join failed with `join` all the same (the failure goes to console.error)
    const exchanged = new Promise<void>((resolve) => { replica.events.once('join', () => { resolve() }) })
    const filled = holding(replica, ENTRIES)
    await startSync(reader.libp2p, replica)
    await exchanged
    const after = reader.diagnostics().exchangeRetries
    lose = false
    expect(await replica.log.has(values.at(-1)!.hash)).toBe(false)
    expect(after.failedJoins - before.failedJoins).toBeGreaterThanOrEqual(1)
    // the cause of the stalls: OrbitDB would never ask again (the owner writes nothing new); an exchange the
    // owner started may still bring the rest first
    expect(after.scheduled - before.scheduled).toBe(1)
    await filled
    expect((await replica.all()).length).toBe(ENTRIES)
    Object.assign(blockstore, { get, put })
    await replica.close()
    await db.close()
  })
})
