// Warm catalog query by instrument over 10 companions x 1,000 pieces each,
// against the tutorial's approach (open each companion's db, Documents.query).
//
// Processes: the 10 companions are 10 transports + catalogs in ONE child
// process (companions.mjs); the querier runs alone in this process. With two
// cores, the companions' writes and the querier's replication run side by side
// during setup, and while measuring nothing else runs on the querier's event
// loop. (The measured query never touches the network: it answers from the
// in-memory indexes of the replicas, so the companions could as well live in
// this process; a separate one just keeps their background work out of the
// numbers.)
//
// A replication that is not complete TIMEOUT_S after the writes ended is reported as
// stalled (its own outcome: the JSON then has "stalled": true, what each replica held and
// the querier's transport diagnostics), not as a crash.
//
// Env: COMPANIONS (10), PIECES (1000), REPS (50), NAIVE_REPS (5), TIMEOUT_S (300)
import { join } from 'node:path'
import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { Documents, OWN_DATABASES, createTransport, openOwnDatabase } from '@npp/transport'
import { Cleanups, Companions, percentile, round, tempDir } from './companions-process.mjs'

const COMPANIONS = Number(process.env.COMPANIONS ?? 10)
const PIECES = Number(process.env.PIECES ?? 1000)
const SHARED = Math.floor(PIECES / 10)
const REPS = Number(process.env.REPS ?? 50)
const NAIVE_REPS = Number(process.env.NAIVE_REPS ?? 5)
const TIMEOUT_MS = Number(process.env.TIMEOUT_S ?? 300) * 1000
const INSTRUMENTS = ['violin', 'cello', 'piano', 'flute', 'guitar']
const log = (...args) => console.error('[bench:query]', ...args)

const cleanups = new Cleanups()
const base = await tempDir(cleanups, 'bench-query')
const companions = new Companions(COMPANIONS, base)
const bus = createBus()
const transport = createTransport({ bus, repo: join(base, 'querier'), connectionMonitor: false }) // see companions.mjs
const catalog = createCatalog({ bus, transport, defaultQueryTimeoutMs: 60_000 })

try {
  const t0 = performance.now()
  await transport.start()
  await catalog.start()
  const { companions: list } = await companions.take('ready', undefined, 600_000)
  log(`${COMPANIONS} companions and the querier started in ${Math.round(performance.now() - t0)} ms`)

  // discovery and the companion going online, as discovery and companions would report them; the replicas then follow the
  // companions' writes live (replication runs on this core while they write on the other)
  const t1 = performance.now()
  const pending = new Set(list.map((c) => c.peerId))
  const held = new Map(list.map((c) => [c.peerId, 0]))
  const replicated = new Promise((resolve) => {
    const off = bus.subscribe('catalog:replicated', (e) => {
      if (held.has(e.peerId)) held.set(e.peerId, e.pieces)
      if (e.pieces === PIECES) pending.delete(e.peerId)
      if (pending.size === 0) { off(); resolve() }
    })
  })
  for (const c of list) {
    await transport.connect(c.multiaddrs[0])
    const profile = { userDb: c.userDb, username: c.username, pieces: c.pieces, nodeId: c.peerId }
    bus.emit('companion:discovered', { profile, multiaddrs: c.multiaddrs })
    bus.emit('companion:online', { userDb: c.userDb, peerId: c.peerId, profile })
  }
  companions.command({ cmd: 'write', pieces: PIECES, shared: SHARED, instruments: INSTRUMENTS })
  const { ms: writeMs } = await companions.take('written', undefined, 600_000)
  log(`companions wrote ${COMPANIONS} x ${PIECES} pieces in ${Math.round(writeMs)} ms`)
  let timer
  const outcome = await Promise.race([replicated.then(() => 'complete'), new Promise((resolve) => { timer = setTimeout(() => resolve('stalled'), TIMEOUT_MS) })])
  clearTimeout(timer)
  if (outcome === 'stalled') {
    const report = {
      name: 'query',
      companions: COMPANIONS,
      pieces_per_companion: PIECES,
      stalled: true,
      stalled_after_writes_ms: TIMEOUT_MS,
      write_ms: Math.round(writeMs),
      held: Object.fromEntries([...held].map(([id, n]) => [id.slice(-8), n])),
      diagnostics: transport.diagnostics(),
      rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20)
    }
    log(`STALLED: replicas incomplete ${TIMEOUT_MS} ms after the writes ended`)
    console.log(JSON.stringify(report))
    process.exitCode = 3
  } else {
    const replicateMs = performance.now() - t1
    log(`every replica holds all pieces ${Math.round(replicateMs)} ms after discovery`)

    const expected = SHARED / INSTRUMENTS.length + COMPANIONS * (PIECES - SHARED) / INSTRUMENTS.length
    const check = (result, what) => {
      if (result.summary.answered !== COMPANIONS + 1 || result.summary.total !== expected) {
        throw new Error(`${what}: expected ${COMPANIONS + 1} sources and ${expected} pieces, got ${JSON.stringify(result.summary)}`)
      }
    }

    for (let i = 0; i < 5; i++) check(await catalog.query({ instrument: 'violin' }).done, 'warm-up')
    const times = []
    for (let i = 0; i < REPS; i++) {
      const start = performance.now()
      const result = await catalog.query({ instrument: 'violin' }).done
      times.push(performance.now() - start)
      check(result, 'query')
    }
    const shared = (await catalog.query({ instrument: 'violin' }).done).hits.find((h) => h.sources.length === COMPANIONS)
    log(`catalog query: p50 ${round(percentile(times, 0.5))} ms, p95 ${round(percentile(times, 0.95))} ms; a shared piece has ${shared?.sources.length} sources`)

    // The tutorial's approach: open every catalog (already open and replicated here, so
    // open() returns the cached instance) and filter it with Documents.query (a log scan)
    const own = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    const naive = []
    for (let i = 0; i < NAIVE_REPS; i++) {
      const start = performance.now()
      const lists = await Promise.all([own, ...list.map(async (c) => await transport.orbitdb.open(c.pieces, { Database: Documents({ indexBy: 'hash' }) }))]
        .map(async (dbp) => await (await dbp).query((doc) => String(doc.instrument).toLowerCase() === 'violin')))
      const merged = new Map()
      for (const docs of lists) for (const doc of docs) merged.set(doc.hash, doc)
      naive.push(performance.now() - start)
      if (merged.size !== expected) throw new Error(`naive: expected ${expected} pieces, got ${merged.size}`)
    }
    log(`naive query: p50 ${round(percentile(naive, 0.5))} ms over ${NAIVE_REPS} runs`)

    const p50 = percentile(times, 0.5)
    console.log(JSON.stringify({
      name: 'query',
      companions: COMPANIONS,
      pieces_per_companion: PIECES,
      p50_ms: round(p50),
      p95_ms: round(percentile(times, 0.95)),
      naive_p50_ms: round(percentile(naive, 0.5)),
      speedup: Math.round(percentile(naive, 0.5) / p50),
      hits: expected,
      reps: REPS,
      naive_reps: NAIVE_REPS,
      write_ms: Math.round(writeMs),
      replicate_ms: Math.round(replicateMs)
    }))
  }
} finally {
  await catalog.stop().catch((err) => log('catalog stop', err))
  await transport.stop().catch((err) => log('transport stop', err))
  await companions.stop()
  await cleanups.run()
}
