// Sequential local puts: each piece is added and awaited before the next, through the
// catalog (`catalog.add`: validation, the serial writer, OrbitDB, our index), against
// puts of the same documents into a Documents db of a stock @orbitdb/core 4 peer
// (@npp/testkit/stock: nothing of @npp/*), in the same run. Each measurement starts
// from a fresh repo.
//
// Env: PIECES (1000), REPS (3), RAW (1; 0 skips the plain OrbitDB runs, as bench:growth does at
// 100,000 pieces). Prints one JSON object on its last line, with the catalog's RSS and disk use.
import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { Cleanups, diskUsage, percentile, round, tempDir } from '@npp/testkit'
import { createStockPeer } from '@npp/testkit/stock'
import { createTransport } from '@npp/transport'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

const PIECES = Number(process.env.PIECES ?? 1000)
const REPS = Number(process.env.REPS ?? 3)
const RAW = process.env.RAW !== '0'
/** The last catalog run's process RSS and repo size after its writes */
const after = { rss: 0, disk: 0 }
const log = (...args) => console.error('[bench:write]', ...args)

const pieces = []
for (let n = 0; n < PIECES; n++) {
  const hash = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(`bench-write-${n}`))).toString()
  pieces.push({ hash, instrument: ['violin', 'cello', 'piano', 'flute'][n % 4], title: `Piece ${n}`, composer: `Composer ${n % 37}`, addedAt: n })
}

async function run (withCatalog) {
  const cleanups = new Cleanups()
  try {
    const repo = await tempDir(cleanups, 'bench-write')
    if (withCatalog) {
      const bus = createBus()
      const transport = createTransport({ bus, repo })
      await transport.start()
      cleanups.add(async () => { await transport.stop() })
      const catalog = createCatalog({ bus, transport })
      await catalog.start()
      cleanups.add(async () => { await catalog.stop() })
      const start = performance.now()
      for (const piece of pieces) await catalog.add(piece)
      const ms = performance.now() - start
      after.rss = process.memoryUsage().rss
      after.disk = await diskUsage(repo)
      return ms
    }
    const peer = await createStockPeer(repo)
    cleanups.add(async () => { await peer.stop() })
    const db = await peer.orbitdb.open('bench-write-raw', { Database: peer.Documents({ indexBy: 'hash' }) })
    const start = performance.now()
    for (const piece of pieces) await db.put(piece)
    return performance.now() - start
  } finally {
    await cleanups.run()
  }
}

const catalogMs = []
const rawMs = []
for (let i = 0; i < REPS; i++) {
  if (RAW) rawMs.push(await run(false))
  catalogMs.push(await run(true))
  log(`run ${i + 1}: catalog ${Math.round(catalogMs.at(-1))} ms${RAW ? `, raw OrbitDB ${Math.round(rawMs.at(-1))} ms` : ''} for ${PIECES} puts`)
}
const ms = percentile(catalogMs, 0.5)
const raw = RAW ? percentile(rawMs, 0.5) : null
console.log(JSON.stringify({
  name: 'write',
  pieces: PIECES,
  per_second: round(PIECES * 1000 / ms, 1),
  raw_orbitdb_per_second: raw == null ? null : round(PIECES * 1000 / raw, 1),
  ms: Math.round(ms),
  raw_orbitdb_ms: raw == null ? null : Math.round(raw),
  rss_mb: round(after.rss / 2 ** 20, 0),
  disk_mb: round(after.disk / 2 ** 20, 1),
  catalog_runs_ms: catalogMs.map(Math.round),
  raw_runs_ms: rawMs.map(Math.round)
}))
