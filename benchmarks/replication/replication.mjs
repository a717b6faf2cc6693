// A new companion with 1,000 pieces: time from its discovery until all 1,000
// are queryable through our catalog, against a stock @orbitdb/core 4 peer (libp2p,
// Helia, OrbitDB as the tutorial builds them: @npp/testkit/stock) replicating the same
// db (open by address, wait until every entry is there), and OrbitDB's own open by
// address on our transport (which has our faster sync paths), in the same run.
//
// The companion runs in a child process (companions.mjs); each measurement uses
// a fresh querying peer (new repo, nothing cached) in this process, alternating
// the three. `ms`, `raw_orbitdb_ms` (stock) and `orbitdb_api_ms` are medians.
//
// Env: PIECES (1000), REPS (3)
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { Documents, createTransport } from '@npp/transport'
import { Cleanups, Companions, percentile, round, tempDir } from '@npp/bench-query/companions-process'
import { createStockPeer, holding } from '@npp/testkit/stock'

const PIECES = Number(process.env.PIECES ?? 1000)
const REPS = Number(process.env.REPS ?? 3)
const log = (...args) => console.error('[bench:replication]', ...args)

const cleanups = new Cleanups()
const base = await tempDir(cleanups, 'bench-replication')
const companion = new Companions(1, base, 'r')

async function freshPeer (name, withCatalog) {
  const bus = createBus()
  const repo = await mkdtemp(join(base, `${name}-`))
  const transport = createTransport({ bus, repo })
  const catalog = withCatalog ? createCatalog({ bus, transport }) : undefined
  await transport.start()
  await catalog?.start()
  return {
    bus,
    transport,
    catalog,
    stop: async () => {
      await catalog?.stop()
      await transport.stop()
      await rm(repo, { recursive: true, force: true })
    }
  }
}

/** Our catalog: from companion:discovered until a query returns all its pieces */
async function viaCatalog (c) {
  const peer = await freshPeer('catalog', true)
  try {
    await peer.transport.connect(c.multiaddrs[0])
    const replicated = peer.bus.waitFor('catalog:replicated', (e) => e.peerId === c.peerId && e.pieces === PIECES, { timeoutMs: 300_000 })
    const start = performance.now()
    const profile = { userDb: c.userDb, username: c.username, pieces: c.pieces, nodeId: c.peerId }
    peer.bus.emit('companion:discovered', { profile, multiaddrs: c.multiaddrs })
    peer.bus.emit('companion:online', { userDb: c.userDb, peerId: c.peerId, profile })
    await replicated
    const readyMs = performance.now() - start
    const result = await peer.catalog.query({ timeoutMs: 60_000 }).done
    const ms = performance.now() - start
    const fromCompanion = result.hits.filter((h) => h.sources.some((s) => s.peerId === c.peerId)).length
    if (fromCompanion !== PIECES) throw new Error(`catalog: ${fromCompanion} of ${PIECES} pieces queryable`)
    return { ms, readyMs }
  } finally {
    await peer.stop()
  }
}

/** A stock @orbitdb/core peer: open by address, wait until every entry has arrived */
async function stock (c) {
  const peer = await createStockPeer(await mkdtemp(join(base, 'stock-')))
  try {
    await peer.dial(c.multiaddrs[0])
    const start = performance.now()
    const db = await peer.orbitdb.open(c.pieces, { Database: peer.Documents({ indexBy: 'hash' }) })
    await holding(db, PIECES)
    return { ms: performance.now() - start }
  } finally {
    await peer.stop()
  }
}

/** OrbitDB's API on our transport: open by address, wait until every entry has arrived */
async function raw (c) {
  const peer = await freshPeer('raw', false)
  try {
    await peer.transport.connect(c.multiaddrs[0])
    const start = performance.now()
    const db = await peer.transport.orbitdb.open(c.pieces, { Database: Documents({ indexBy: 'hash' }), sync: false })
    const openMs = performance.now() - start
    const complete = new Promise((resolve, reject) => {
      let checking = Promise.resolve()
      const check = () => {
        const at = performance.now() // when this entry arrived; the count check below is not timed
        checking = checking.then(async () => {
          if ((await db.all()).length === PIECES) {
            db.events.off('update', check)
            db.events.off('join', check)
            resolve(at - start)
          }
        }).catch(reject)
      }
      db.events.on('update', check)
      db.events.on('join', check)
    })
    await db.sync.start()
    const ms = await complete
    return { ms, openMs }
  } finally {
    await peer.stop()
  }
}

try {
  const { companions: [c] } = await companion.take('ready', undefined, 600_000)
  companion.command({ cmd: 'write', pieces: PIECES, shared: 0, instruments: ['violin', 'cello', 'piano', 'flute', 'guitar'] })
  const { ms: writeMs } = await companion.take('written', undefined, 600_000)
  log(`companion wrote ${PIECES} pieces in ${Math.round(writeMs)} ms`)

  const catalogRuns = []
  const rawRuns = []
  const stockRuns = []
  for (let i = 0; i < REPS; i++) {
    const s = await stock(c)
    stockRuns.push(s)
    log(`stock OrbitDB run ${i + 1}: ${Math.round(s.ms)} ms`)
    const r = await raw(c)
    rawRuns.push(r)
    log(`OrbitDB API on our transport run ${i + 1}: ${Math.round(r.ms)} ms (open ${Math.round(r.openMs)} ms)`)
    const k = await viaCatalog(c)
    catalogRuns.push(k)
    log(`catalog run ${i + 1}: ${Math.round(k.ms)} ms (replica ready ${Math.round(k.readyMs)} ms)`)
  }
  console.log(JSON.stringify({
    name: 'replication',
    pieces: PIECES,
    ms: Math.round(percentile(catalogRuns.map((r) => r.ms), 0.5)),
    raw_orbitdb_ms: Math.round(percentile(stockRuns.map((r) => r.ms), 0.5)),
    speedup: round(percentile(stockRuns.map((r) => r.ms), 0.5) / percentile(catalogRuns.map((r) => r.ms), 0.5), 2),
    orbitdb_api_ms: Math.round(percentile(rawRuns.map((r) => r.ms), 0.5)),
    runs: REPS,
    catalog_runs_ms: catalogRuns.map((r) => Math.round(r.ms)),
    raw_runs_ms: stockRuns.map((r) => Math.round(r.ms)),
    orbitdb_api_runs_ms: rawRuns.map((r) => Math.round(r.ms)),
    orbitdb_api_open_ms: round(percentile(rawRuns.map((r) => r.openMs), 0.5))
  }))
} finally {
  await companion.stop()
  await cleanups.run()
}
