// Soak: N full peers (transport, catalog, discovery, companions), each in its own OS
// process on 127.0.0.1, all companions of each other, writing pieces and answering
// queries while peers are killed (SIGKILL) or stopped and restarted at random.
// At the end: every acknowledged write must be on its owner and on every companion.
//
// Usage: node soak.mjs [--peers 8] [--seconds 60] [--seed 1] [--write-ms 400] [--query-ms 300]
// Progress goes to stderr; the last line on stdout is one JSON object.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ChildPeer, now, prng } from '@npp/reliability'
import { percentile, round } from '@npp/testkit'

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'), // pnpm passes its own `--` through
  options: {
    peers: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string', default: '1' },
    'write-ms': { type: 'string', default: '400' },
    'query-ms': { type: 'string', default: '300' }
  }
})
const PEERS = Number(args.peers)
const SECONDS = Number(args.seconds)
const WRITE_MS = Number(args['write-ms'])
const QUERY_MS = Number(args['query-ms'])
// separate streams, so that the churn schedule does not depend on how many queries ran
const churnRand = prng(Number(args.seed))
const queryRand = prng(Number(args.seed) + 1_000)
const log = (...parts) => { process.stderr.write(`[soak ${round((now() - t0) / 1000, 1)}s] ${parts.join(' ')}\n`) }
const t0 = now()
const between = (min, max) => min + churnRand() * (max - min)
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms)) // the workload's pace, not a wait for a result

/** One peer across its incarnations (restarts) */
const slots = []
for (let i = 0; i < PEERS; i++) {
  slots.push({ index: i, name: `peer${i}`, repo: await mkdtemp(join(tmpdir(), `npp-soak-${i}-`)), port: 0, peer: undefined, incarnations: [], collected: [], current: undefined, peerId: '', userDb: '', gen: 0, writing: undefined, down: false })
}

async function start (slot) {
  const listen = [`/ip4/127.0.0.1/tcp/${slot.port}`]
  const peer = await ChildPeer.start({ name: slot.name, repo: slot.repo, options: { listen, statsEveryMs: 1_000, profile: { username: slot.name } } }, 120_000)
  slot.port = Number(/\/tcp\/(\d+)/.exec(peer.address)[1])
  slot.peer = peer
  slot.peerId = peer.peerId
  slot.userDb = peer.ready.userDb
  slot.incarnations.push(peer)
  slot.down = false
  return peer
}

const ackedSince = (peer, since) => peer.events.slice(since).filter((e) => e.event === 'acked').map((e) => e.hash)

function startWriting (slot) {
  const gen = slot.gen++
  slot.current = { peer: slot.peer, since: slot.peer.mark() }
  slot.writing = slot.peer.request({ cmd: 'write', prefix: `${slot.name}-g${gen}`, intervalMs: WRITE_MS }, 3_600_000).catch(() => {})
}

/** Every write this peer acknowledged, in every incarnation (also those acknowledged just before a kill) */
function ackedOf (slot) {
  return [...slot.collected, ...(slot.current == null ? [] : ackedSince(slot.current.peer, slot.current.since))]
}

/** After an incarnation ended: keep what it acknowledged */
function retire (slot) {
  slot.collected.push(...ackedSince(slot.current.peer, slot.current.since))
  slot.current = undefined
}

async function connect (from, to) {
  // libp2p accepts at most 5 inbound connections per second from one address: retry when turned away
  for (let attempt = 1; ; attempt++) {
    try {
      return await from.peer.request({ cmd: 'connect', addr: to.peer.address }, 30_000)
    } catch (err) {
      if (attempt >= 20) throw err
      await pause(300)
    }
  }
}

// --- start, connect every pair, wait until everyone is everyone's companion ----------------
for (const slot of slots) await start(slot)
log(`${PEERS} peers started`)
for (let i = 1; i < PEERS; i++) {
  for (let j = 0; j < i; j++) await connect(slots[i], slots[j])
}
await Promise.all(slots.flatMap((a) => slots.filter((b) => b !== a).map((b) =>
  a.peer.next('companion:online', (e) => e.peerId === b.peerId, { since: 0, timeoutMs: 180_000 }))))
log('every peer is a companion of every other')
for (const slot of slots) startWriting(slot)

// --- the soak: queries all along, churn at random --------------------------------------------
const soakStart = now()
const deadline = soakStart + SECONDS * 1000
const queries = { answered: 0, failed: 0, latencies: [], sources: { answered: 0, failed: 0, timedOut: 0 } }
let kills = 0
let stops = 0

const queryLoop = (async () => {
  while (now() < deadline) {
    const live = slots.filter((s) => !s.down)
    const slot = live[Math.floor(queryRand() * live.length)]
    try {
      const r = await slot.peer.request({ cmd: 'query', timeoutMs: 2_000 }, 15_000)
      queries.answered++
      queries.latencies.push(r.ms)
      for (const s of r.sources) queries.sources[s.status] = (queries.sources[s.status] ?? 0) + 1
    } catch {
      queries.failed++ // the peer was killed under the query
    }
    await pause(QUERY_MS)
  }
})()

const churnLoop = (async () => {
  while (now() < deadline) {
    await pause(between(3_000, 8_000))
    if (now() >= deadline) break
    const live = slots.filter((s) => !s.down)
    const slot = live[Math.floor(churnRand() * live.length)]
    slot.down = true
    if (churnRand() < 0.75) {
      kills++
      log(`SIGKILL ${slot.name}`)
      await slot.peer.kill()
    } else {
      stops++
      log(`stop ${slot.name}`)
      await slot.peer.stop()
    }
    retire(slot)
    await pause(between(500, 3_000))
    await start(slot)
    startWriting(slot)
    log(`restarted ${slot.name}`)
  }
})()

await Promise.all([queryLoop, churnLoop])
log('soak over; stopping the writers')

// --- the end: every acknowledged write on its owner and on every companion ----------------
await Promise.all(slots.map(async (slot) => {
  await slot.peer.request({ cmd: 'stopWriting' })
  await slot.writing
}))
const convergeStart = now()
let lostOnOwner = 0
let lostOnCompanions = 0
const writes = Object.fromEntries(slots.map((s) => [s.name, ackedOf(s)]))
await Promise.all(slots.map(async (owner) => {
  const acked = writes[owner.name]
  const { hashes } = await owner.peer.request({ cmd: 'pieces' })
  const have = new Set(hashes)
  lostOnOwner += acked.filter((h) => !have.has(h)).length
  await Promise.all(slots.filter((s) => s !== owner).map(async (holder) => {
    const r = await holder.peer.request({ cmd: 'waitReplica', peerId: owner.peerId, hashes: acked, timeoutMs: 120_000 }, 150_000)
    if (r.missing.length > 0) log(`${holder.name} misses ${r.missing.length} of ${owner.name}'s ${acked.length} pieces (source ${r.status})`)
    lostOnCompanions += r.missing.length
  }))
}))
const convergeMs = now() - convergeStart
log(`converged in ${round(convergeMs / 1000, 1)} s`)

// --- metrics from every incarnation's events ---------------------------------------------------
let discoveries = 0
let reconnections = 0
const pairs = new Set()
const discoveryLatencies = []
const peakRss = slots.map(() => 0)
for (const slot of slots) {
  for (const peer of slot.incarnations) {
    const connectedAt = new Map()
    for (const e of peer.events) {
      if (e.event === 'peer:connected') connectedAt.set(e.peerId, e.at)
      else if (e.event === 'companion:discovered') {
        discoveries++
        const nodeId = e.profile.nodeId
        pairs.add(`${slot.name}>${nodeId}`)
        if (connectedAt.has(nodeId)) {
          discoveryLatencies.push(e.at - connectedAt.get(nodeId))
          connectedAt.delete(nodeId)
        }
      } else if (e.event === 'companion:online') {
        // every online after the first one of this pair: a reconnection (either side restarted)
        const key = `${slot.name}~${e.peerId}`
        if (pairs.has(key)) reconnections++
        else pairs.add(key)
      } else if (e.event === 'stats') {
        peakRss[slot.index] = Math.max(peakRss[slot.index], e.rss)
      }
    }
  }
}

await Promise.all(slots.map(async (s) => { await s.peer.stop() }))
await Promise.all(slots.map(async (s) => { await rm(s.repo, { recursive: true, force: true }) }))

const p = (values, q) => values.length === 0 ? null : round(percentile(values, q), 1)
console.log(JSON.stringify({
  bench: 'soak',
  peers: PEERS,
  seconds: SECONDS,
  seed: Number(args.seed),
  restarts: kills + stops,
  sigkills: kills,
  graceful_stops: stops,
  writes_acked: Object.values(writes).reduce((n, w) => n + w.length, 0),
  discoveries,
  discovered_pairs: [...pairs].filter((k) => k.includes('>')).length,
  reconnections,
  queries_answered: queries.answered,
  queries_failed: queries.failed,
  query_sources: queries.sources,
  discovery_latency_ms: { n: discoveryLatencies.length, p50: p(discoveryLatencies, 0.5), p95: p(discoveryLatencies, 0.95) },
  query_latency_ms: { n: queries.latencies.length, p50: p(queries.latencies, 0.5), p95: p(queries.latencies, 0.95) },
  peak_rss_mb: peakRss.map((b) => round(b / 1024 / 1024, 1)),
  converge_ms: Math.round(convergeMs),
  lost_writes: lostOnOwner + lostOnCompanions,
  lost: { on_owner: lostOnOwner, on_companions: lostOnCompanions }
}))
process.exitCode = lostOnOwner + lostOnCompanions === 0 ? 0 : 1
