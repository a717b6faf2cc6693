/**
 * The wire stays plain OrbitDB: a peer built on `@orbitdb/core` 4 directly (libp2p,
 * Helia and OrbitDB, nothing of ours) replicates our db, and our transport replicates
 * the stock peer's, with our faster paths (the log-blocks stream, the OpenSSL verifier,
 * the in-memory entry index) falling back where the other side does not have them.
 * The stock peer is `@npp/testkit/stock` (the same one the benchmarks compare with).
 */
import { createBus } from '@npp/bus'
import { createStockPeer, holding } from '@npp/testkit/stock'
import { Documents, createTransport, openOwnDatabase } from '@npp/transport'
import { afterAll, describe, expect, it } from 'vitest'
import { Resources } from './helpers.js'
import type { StockDatabase } from '@npp/testkit/stock'
import type { Transport } from '@npp/transport'

const PIECES = 60
const resources = new Resources()
afterAll(async () => { await resources.cleanup() })

describe('a stock @orbitdb/core 4 peer', () => {
  it('replicates our db, and we replicate its db (log blocks fall back to bitswap)', async () => {
    const stock = await createStockPeer(await resources.repo('stock-peer'))
    let ours: Transport | undefined
    try {
      ours = createTransport({ bus: createBus(), repo: await resources.repo('stock-compat') })
      await ours.start()
      await stock.dial(ours.multiaddrs[0]!)

      // ours -> stock
      const mine = await openOwnDatabase(ours.orbitdb, 'stock-compat-ours', Documents({ indexBy: 'hash' }))
      for (let i = 0; i < PIECES; i++) await mine.put({ hash: `ours-${i}`, title: `Ours ${i}` })
      const theirReplica = await stock.orbitdb.open(mine.address, { Database: stock.Documents({ indexBy: 'hash' }) })
      await holding(theirReplica, PIECES)

      // stock -> ours, opened from the stock peer: it has no log-blocks protocol
      const before = ours.diagnostics().logBlocks
      const theirs = await stock.orbitdb.open('stock-compat-theirs', { type: 'documents', Database: stock.Documents({ indexBy: 'hash' }) })
      for (let i = 0; i < PIECES; i++) await theirs.put({ hash: `theirs-${i}`, title: `Theirs ${i}` })
      const ourReplica = await ours.orbitdb.open(theirs.address, { Database: Documents({ indexBy: 'hash' }), from: stock.peerId })
      await holding(ourReplica as unknown as StockDatabase, PIECES)
      const after = ours.diagnostics().logBlocks
      expect(after.unsupported).toBeGreaterThan(before.unsupported)
      expect(after.stored).toBe(before.stored)
    } finally {
      await ours?.stop()
      await stock.stop()
    }
  })
})
