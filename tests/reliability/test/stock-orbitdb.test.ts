/**
 * The wire stays plain OrbitDB: a peer built on `@orbitdb/core` 4 directly (libp2p,
 * Helia and OrbitDB, nothing of ours) replicates our db, and our transport replicates
 * the stock peer's, with our faster paths (the log-blocks stream, the OpenSSL verifier,
 * the in-memory entry index) falling back where the other side does not have them.
 */
import { createBus } from '@npp/bus'
import { Documents, createTransport, openOwnDatabase } from '@npp/transport'
import * as stockCore from '@orbitdb/core'
import { afterAll, describe, expect, it } from 'vitest'
import { createHostilePeer } from '../src/hostile-peer.js'
import { Resources } from './helpers.js'
import type { Transport } from '@npp/transport'

const PIECES = 60
/** `@orbitdb/core`'s own Documents (it ships no types) */
const StockDocuments = (stockCore as unknown as { Documents: (options: { indexBy: string }) => unknown }).Documents
const resources = new Resources()
afterAll(async () => { await resources.cleanup() })

interface Db {
  address: string
  put(doc: unknown): Promise<string>
  all(): Promise<unknown[]>
  events: { on(event: string, fn: () => void): void, off(event: string, fn: () => void): void }
}

/** Resolves once `db` holds `n` documents (checked on every update and join, never on a timer) */
async function holding (db: Db, n: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let checking = Promise.resolve()
    const check = (): void => {
      checking = checking.then(async () => {
        if ((await db.all()).length < n) return
        db.events.off('update', check)
        db.events.off('join', check)
        resolve()
      }).catch(reject)
    }
    db.events.on('update', check)
    db.events.on('join', check)
    check()
  })
}

describe('a stock @orbitdb/core 4 peer', () => {
  it('replicates our db, and we replicate its db (log blocks fall back to bitswap)', async () => {
    const stock = await createHostilePeer()
    let ours: Transport | undefined
    try {
      ours = createTransport({ bus: createBus(), repo: await resources.repo('stock-compat') })
      await ours.start()
      await stock.connect(ours.multiaddrs[0]!)
      const stockOrbit = await stock.orbitdb() as unknown as { open(address: string, options?: unknown): Promise<Db> }

      // ours -> stock
      const mine = await openOwnDatabase(ours.orbitdb, 'stock-compat-ours', Documents({ indexBy: 'hash' })) as unknown as Db
      for (let i = 0; i < PIECES; i++) await mine.put({ hash: `ours-${i}`, title: `Ours ${i}` })
      const theirReplica = await stockOrbit.open(mine.address, { Database: StockDocuments({ indexBy: 'hash' }) })
      await holding(theirReplica, PIECES)

      // stock -> ours, opened from the stock peer: it has no log-blocks protocol
      const before = ours.diagnostics().logBlocks
      const theirs = await stockOrbit.open('stock-compat-theirs', { type: 'documents', Database: StockDocuments({ indexBy: 'hash' }) })
      for (let i = 0; i < PIECES; i++) await theirs.put({ hash: `theirs-${i}`, title: `Theirs ${i}` })
      const ourReplica = await ours.orbitdb.open(theirs.address, { Database: Documents({ indexBy: 'hash' }), from: stock.peerId }) as unknown as Db
      await holding(ourReplica, PIECES)
      const after = ours.diagnostics().logBlocks
      expect(after.unsupported).toBeGreaterThan(before.unsupported)
      expect(after.stored).toBe(before.stored)
    } finally {
      await ours?.stop()
      await stock.stop()
    }
  })
})
