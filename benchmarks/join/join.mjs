// A fresh peer joins a group: 10 companions (one child process) with 1,000 pieces each,
// written before it arrives. Each run starts a new peer (new repo, nothing cached) that
// connects to every companion and learns their catalogs as discovery would report them;
// measured until the first companion's pieces are queryable (`first_ms`: a query run when the
// first entries are in a replica has answered with them; `first_syncing_ms`: those entries
// arrived) and until all 10,000 are (`all_ms`). Beside it, in the same run, a stock @orbitdb/core peer
// (@npp/testkit/stock) opens the 10 catalogs by address and waits for every entry.
//
// A run that does not finish within TIMEOUT_S is reported as stalled, with which
// replicas were incomplete, and the next run starts (a stall is a result, not a crash).
//
// Env: COMPANIONS (10), PIECES (1000), RUNS (1), TIMEOUT_S (180), STOCK (1: also the stock peer)
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import { Cleanups, Companions, percentile, round, tempDir } from '@npp/bench-query/companions-process'
import { diskUsage } from '@npp/testkit'
import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { createStockPeer, holding } from '@npp/testkit/stock'
import { createTransport } from '@npp/transport'

const COMPANIONS = Number(process.env.COMPANIONS ?? 10)
const PIECES = Number(process.env.PIECES ?? 1000)
const RUNS = Number(process.env.RUNS ?? 1)
const TIMEOUT_MS = Number(process.env.TIMEOUT_S ?? 180) * 1000
const STOCK = process.env.STOCK !== '0'
const log = (...args) => console.error('[bench:join]', ...args)

const cleanups = new Cleanups()
const base = await tempDir(cleanups, 'bench-join')
const companions = new Companions(COMPANIONS, base, 'j')

/** Our peer joins: until every replica holds PIECES, or TIMEOUT_MS */
async function ours (list) {
  const bus = createBus()
  const repo = await mkdtemp(join(base, 'joiner-'))
  const transport = createTransport({ bus, repo })
  const catalog = createCatalog({ bus, transport })
  await transport.start()
  await catalog.start()
  try {
    const held = new Map(list.map((c) => [c.peerId, 0]))
    let firstSyncing
    const start = performance.now()
    // the first results queryable: a query as the first entries of a companion arrive (a replica
    // answers while it syncs), measured when it has answered with a companion's piece
    const firstAnswer = new Promise((resolve) => {
      const off = bus.subscribe('catalog:syncing', (e) => {
        if (!held.has(e.peerId) || e.done === 0 || firstSyncing != null) return
        firstSyncing = performance.now() - start
        off()
        // the first batch of a companion with pieces in it (the others may still be waiting for theirs)
        const firstBatch = async () => {
          for await (const event of catalog.query({ timeoutMs: 30_000 })) {
            if (event.type === 'batch' && held.has(event.source.peerId) && event.hits.length > 0) return performance.now() - start
          }
          return null
        }
        firstBatch().then(resolve, () => resolve(null))
      })
    })
    const done = new Promise((resolve) => {
      const off = bus.subscribe('catalog:replicated', (e) => {
        if (!held.has(e.peerId)) return
        held.set(e.peerId, e.pieces)
        if ([...held.values()].every((n) => n >= PIECES)) { off(); resolve('complete') }
      })
    })
    for (const c of list) {
      await transport.connect(c.multiaddrs[0])
      const profile = { userDb: c.userDb, username: c.username, pieces: c.pieces, nodeId: c.peerId }
      bus.emit('companion:discovered', { profile, multiaddrs: c.multiaddrs })
      bus.emit('companion:online', { userDb: c.userDb, peerId: c.peerId, profile })
    }
    let timer
    const outcome = await Promise.race([done, new Promise((resolve) => { timer = setTimeout(() => resolve('stalled'), TIMEOUT_MS) })])
    clearTimeout(timer)
    const allMs = performance.now() - start
    if (outcome === 'stalled') {
      return { stalled: true, held: Object.fromEntries([...held].map(([id, n]) => [id.slice(-6), n])), rss_mb: round(process.memoryUsage().rss / 2 ** 20, 0) }
    }
    const result = await catalog.query({ timeoutMs: 60_000 }).done
    const fromCompanions = result.hits.filter((h) => h.sources.some((s) => held.has(s.peerId))).length
    if (fromCompanions !== COMPANIONS * PIECES) throw new Error(`${fromCompanions} of ${COMPANIONS * PIECES} pieces queryable after every replica was complete`)
    const rssMb = round(process.memoryUsage().rss / 2 ** 20, 0)
    // (bench:memory runs this with --expose-gc: what the peer keeps, not what is garbage)
    globalThis.gc?.()
    return { stalled: false, allMs, firstMs: await firstAnswer, firstSyncingMs: firstSyncing, rss_mb: rssMb, rss_after_gc_mb: round(process.memoryUsage().rss / 2 ** 20, 0), disk_mb: round(await diskUsage(repo) / 2 ** 20, 1) }
  } finally {
    await catalog.stop()
    await transport.stop()
  }
}

/** A stock OrbitDB peer opens the 10 catalogs by address and waits for every entry */
async function stock (list) {
  const peer = await createStockPeer(await mkdtemp(join(base, 'stock-')))
  try {
    for (const c of list) await peer.dial(c.multiaddrs[0])
    const start = performance.now()
    let timer
    const all = Promise.all(list.map(async (c) => {
      const db = await peer.orbitdb.open(c.pieces, { Database: peer.Documents({ indexBy: 'hash' }) })
      await holding(db, PIECES)
    }))
    const outcome = await Promise.race([all.then(() => 'complete'), new Promise((resolve) => { timer = setTimeout(() => resolve('stalled'), TIMEOUT_MS) })])
    clearTimeout(timer)
    return { stalled: outcome === 'stalled', allMs: performance.now() - start }
  } finally {
    await peer.stop()
  }
}

try {
  const { companions: list } = await companions.take('ready', undefined, 600_000)
  companions.command({ cmd: 'write', pieces: PIECES, shared: 0, instruments: ['violin', 'cello', 'piano', 'flute', 'guitar'] })
  const { ms: writeMs } = await companions.take('written', undefined, 1_200_000)
  log(`${COMPANIONS} companions wrote ${PIECES} pieces each in ${Math.round(writeMs)} ms`)

  const runs = []
  const stockRuns = []
  for (let i = 0; i < RUNS; i++) {
    const r = await ours(list)
    runs.push(r)
    log(`run ${i + 1}: ${r.stalled ? `STALLED after ${TIMEOUT_MS} ms, pieces held per companion ${JSON.stringify(r.held)}` : `all ${Math.round(r.allMs)} ms, first ${Math.round(r.firstMs)} ms (first entries in a replica ${Math.round(r.firstSyncingMs)} ms)`} (RSS ${r.rss_mb} MB)`)
    if (STOCK && i === 0) {
      const s = await stock(list)
      stockRuns.push(s)
      log(`stock OrbitDB: ${s.stalled ? 'STALLED' : `all ${Math.round(s.allMs)} ms`}`)
    }
  }
  const finished = runs.filter((r) => !r.stalled)
  const median = (values) => values.length === 0 ? null : Math.round(percentile(values, 0.5))
  console.log(JSON.stringify({
    name: 'join',
    companions: COMPANIONS,
    pieces_per_companion: PIECES,
    all_ms: median(finished.map((r) => r.allMs)),
    first_ms: median(finished.map((r) => r.firstMs)),
    first_syncing_ms: median(finished.map((r) => r.firstSyncingMs)),
    raw_orbitdb_all_ms: median(stockRuns.filter((r) => !r.stalled).map((r) => r.allMs)),
    runs: RUNS,
    finished: finished.length,
    stalled: RUNS - finished.length,
    all_runs_ms: runs.map((r) => r.stalled ? null : Math.round(r.allMs)),
    rss_mb: Math.max(...runs.map((r) => r.rss_mb)),
    rss_after_gc_mb: Math.max(...finished.map((r) => r.rss_after_gc_mb)),
    disk_mb: Math.max(...finished.map((r) => r.disk_mb)),
    write_ms: Math.round(writeMs)
  }))
} finally {
  await companions.stop()
  await cleanups.run()
}
