// Mesh: N full peers (transport, catalog, companions, discovery), each in its own OS
// process on 127.0.0.1. Phase "full": every pair connects; phase "sparse" (fresh peers):
// each peer dials `--degree` others. Each phase ends when, for every connected pair, both
// peers hold the other as a companion (`companion:discovered`), or after `--timeout` s.
//
// Usage: node mesh.mjs [--peers 24] [--degree 3] [--timeout 180] [--seed 1] [--phase full|sparse|both] [--idle 10]
// After each phase the peers are left alone for --idle s and the cores they keep busy are
// reported, with the CPU time and streams per protocol of the whole phase. Environment:
// MESH_PING=<ms> pings every connection that often (the transport's default otherwise);
// MESH_PROF=1 writes a V8 CPU profile of peer 0 to /tmp/prof.
// Progress goes to stderr; the last line on stdout is one JSON object:
// {"name":"mesh","peers":24,"converged_ms":..,"sparse_converged_ms":..,"rejections":{..}}
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ChildPeer, now, prng } from '@npp/reliability'
import { round } from '@npp/testkit'

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'), // pnpm passes its own `--` through
  options: {
    peers: { type: 'string', default: '24' },
    degree: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '180' },
    seed: { type: 'string', default: '1' },
    phase: { type: 'string', default: 'both' },
    idle: { type: 'string', default: '10' }
  }
})
const PEERS = Number(args.peers)
const DEGREE = Number(args.degree)
const TIMEOUT_MS = Number(args.timeout) * 1000
const IDLE_MS = Number(args.idle) * 1000
const rand = prng(Number(args.seed))
const t0 = now()
const log = (...parts) => { process.stderr.write(`[mesh ${round((now() - t0) / 1000, 1)}s] ${parts.join(' ')}\n`) }

/** Where the peers' events go (set while a phase converges) */
let listener

/** Start `n` peers, a few at a time (each start is a Node process booting libp2p, Helia and OrbitDB) */
async function startPeers (n, phase) {
  const repos = []
  const peers = new Array(n)
  let next = 0
  const startOne = async () => {
    for (;;) {
      const i = next++
      if (i >= n) return
      const repo = await mkdtemp(join(tmpdir(), `npp-mesh-${phase}-${i}-`))
      repos.push(repo)
      peers[i] = await ChildPeer.start({ name: `${phase}${i}`, repo, stderr: false, ...(i === 0 && process.env.MESH_PROF ? { nodeFlags: ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] } : {}), onEvent: (e) => listener?.(i, e), options: { profile: { username: `${phase}${i}` }, countStreams: true, ...(process.env.MESH_PING ? { connectionMonitor: { pingIntervalMs: Number(process.env.MESH_PING), pingTimeoutMs: Number(process.env.MESH_PING_TIMEOUT ?? 5000) } } : {}) } }, 120_000)
    }
  }
  await Promise.all([startOne(), startOne(), startOne()])
  return { peers, repos }
}

/** `from` dials `to`; libp2p turns away more than 5 inbound connections per second from one address: retry then */
async function connect (from, to) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await from.request({ cmd: 'connect', addr: to.address }, 30_000)
    } catch (err) {
      if (attempt >= 30) throw err
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt)) // back off before redialling, as the companions package does
    }
  }
}

/**
 * Connect the pairs and wait until every pair is companions on both sides. Returns the
 * convergence time (or null on timeout), the rejections by reason and the pairs missing.
 */
async function converge (peers, pairs, phase) {
  const byPeerId = new Map(peers.map((p, i) => [p.peerId, i]))
  const want = peers.map(() => new Set())
  for (const [a, b] of pairs) { want[a].add(b); want[b].add(a) }
  const have = peers.map(() => new Set())
  const rejections = {}
  let missing = pairs.length * 2
  let done
  const finished = new Promise((resolve) => { done = resolve })
  listener = (i, e) => {
    if (e.event === 'discovery:rejected') {
      rejections[e.reason] = (rejections[e.reason] ?? 0) + 1
    } else if (e.event === 'companion:discovered') {
      const j = byPeerId.get(e.profile?.nodeId)
      if (j == null || !want[i].has(j) || have[i].has(j)) return
      have[i].add(j)
      if (--missing === 0) done(now())
    }
  }
  const started = now()
  log(`${phase}: dialling ${pairs.length} pairs`)
  // dial in random order, a few at a time, as peers meeting would
  const order = [...pairs].sort(() => rand() - 0.5)
  let cursor = 0
  const dialler = async () => {
    for (;;) {
      const k = cursor++
      if (k >= order.length) return
      const [a, b] = order[k]
      await connect(peers[a], peers[b]).catch((err) => { log(`${phase}: ${a} -> ${b} failed: ${err.message}`) })
    }
  }
  const dialled = Promise.all([dialler(), dialler(), dialler(), dialler()]).then(() => { log(`${phase}: all pairs dialled after ${round(now() - started)} ms`) })
  const progress = setInterval(() => { log(`${phase}: ${pairs.length * 2 - missing}/${pairs.length * 2} companionships`) }, 5_000)
  const timeout = new Promise((resolve) => setTimeout(() => resolve(undefined), TIMEOUT_MS))
  const end = await Promise.race([finished, timeout])
  await dialled
  clearInterval(progress)
  listener = undefined
  const convergedMs = end == null ? null : round(end - started)
  const left = []
  peers.forEach((_, i) => { for (const j of want[i]) if (!have[i].has(j)) left.push(`${i}->${j}`) })
  log(`${phase}: ${end == null ? `timed out with ${left.length} missing` : `converged in ${convergedMs} ms`}; rejections ${JSON.stringify(rejections)}`)
  // for a few missing pairs, the last events the waiting side said about the other one
  for (const pair of left.slice(0, 4)) {
    const [i, j] = pair.split('->').map(Number)
    const other = peers[j]
    const about = peers[i].events.filter((e) => { const text = JSON.stringify(e); return text.includes(other.peerId) || (other.ready?.userDb != null && text.includes(other.ready.userDb)) })
    log(`${phase}: ${pair} missing; ${about.length} events of ${i} about ${j}, the last: ${about.slice(-4).map((e) => JSON.stringify(e).slice(0, 300)).join(' | ')}`)
  }
  return { convergedMs, rejections, missing: left }
}

async function stopAll (peers, repos) {
  await Promise.all(peers.filter((p) => p != null).map(async (p) => { await p.stop().catch(() => p.kill()) }))
  await Promise.all(repos.map(async (r) => { await rm(r, { recursive: true, force: true }) }))
}

function fullPairs (n) {
  const pairs = []
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) pairs.push([a, b])
  return pairs
}

/** Each peer dials `degree` others at random (the pairs are connected, not necessarily the whole graph) */
function sparsePairs (n, degree) {
  const keys = new Set()
  const pairs = []
  for (let a = 0; a < n; a++) {
    const others = [...Array(n).keys()].filter((b) => b !== a).sort(() => rand() - 0.5).slice(0, degree)
    for (const b of others) {
      const key = a < b ? `${a}-${b}` : `${b}-${a}`
      if (keys.has(key)) continue
      keys.add(key)
      pairs.push([a, b])
    }
  }
  return pairs
}

const result = { name: 'mesh', peers: PEERS, converged_ms: null, sparse_converged_ms: null, sparse_pairs: 0, rejections: {}, sparse_rejections: {}, missing: 0, sparse_missing: 0, peak_rss_mb: 0 }
const rss = (peers) => Math.max(...peers.map((p) => {
  const stats = p.events.filter((e) => e.event === 'reply' && e.result?.rss != null)
  return stats.length === 0 ? 0 : stats[stats.length - 1].result.rss
}))

async function phase (name, pairsOf) {
  log(`${name}: starting ${PEERS} peers`)
  const { peers, repos } = await startPeers(PEERS, name)
  try {
    const pairs = pairsOf(PEERS)
    const outcome = await converge(peers, pairs, name)
    const cpuNow = async () => (await Promise.all(peers.map(async (p) => (await p.request({ cmd: 'stats' }, 30_000).catch(() => ({ cpuMs: 0 }))).cpuMs))).reduce((a, b) => a + b, 0)
    // what the peers cost once nothing changes: connection pings, gossipsub heartbeats
    const idleFrom = await cpuNow()
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS))
    const idleCores = round((await cpuNow() - idleFrom) / IDLE_MS, 2)
    log(`${name}: ${idleCores} cores busy while idle for ${IDLE_MS / 1000} s`)
    const stats = await Promise.all(peers.map(async (p) => await p.request({ cmd: 'stats' }, 30_000).catch(() => undefined)))
    // where the work went: CPU time and streams opened per protocol, summed over the peers
    const work = { cpu_s: 0, per_peer: {} }
    for (const s of stats) {
      if (s == null) continue
      work.cpu_s += s.cpuMs / 1000
      for (const [key, n] of Object.entries(s.counted ?? {})) work.per_peer[key] = (work.per_peer[key] ?? 0) + n / peers.length
    }
    work.cpu_s = round(work.cpu_s, 1)
    for (const key of Object.keys(work.per_peer)) work.per_peer[key] = Math.round(work.per_peer[key])
    log(`${name}: work ${JSON.stringify(work)}`)
    work.idle_cores = idleCores
    return { ...outcome, work, pairs: pairs.length, rssMb: round(rss(peers) / 2 ** 20, 1) }
  } finally {
    await stopAll(peers, repos)
  }
}

if (args.phase === 'both' || args.phase === 'full') {
  const full = await phase('full', fullPairs)
  result.converged_ms = full.convergedMs
  result.rejections = full.rejections
  result.missing = full.missing.length
  result.peak_rss_mb = Math.max(result.peak_rss_mb, full.rssMb)
}
if (args.phase === 'both' || args.phase === 'sparse') {
  const sparse = await phase('sparse', (n) => sparsePairs(n, DEGREE))
  result.sparse_converged_ms = sparse.convergedMs
  result.sparse_pairs = sparse.pairs
  result.sparse_rejections = sparse.rejections
  result.sparse_missing = sparse.missing.length
  result.peak_rss_mb = Math.max(result.peak_rss_mb, sparse.rssMb)
}
console.log(JSON.stringify(result))
process.exit(0)
