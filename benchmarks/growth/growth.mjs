// How each figure grows with the work, so the curve is visible: the other benchmarks run
// again at several sizes, each in a process of its own, and their JSON is collected.
// - join: a fresh peer joins 1, 10 and 50 companions with 1,000 pieces each (bench:join):
//   until all are queryable, until the first are, its RSS and its repo on disk;
// - write: 1,000, 10,000 and 100,000 sequential puts into one catalog (bench:write, the
//   catalog path only): puts per second, RSS, repo on disk;
// - mesh: 24 peers discovering and querying each other (bench:mesh): until every pair are
//   companions, peak RSS of a peer.
//
// Env: SCALE (full; `quick`: 1 and 10 companions, 1,000 and 10,000 pieces, 12 peers).
// Progress goes to stderr; the last line on stdout is one JSON object:
// {"name":"growth","join":[{"companions":1,..},..],"write":[{"pieces":1000,..},..],"mesh":[{"peers":24,..}]}
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const QUICK = process.env.SCALE === 'quick'
const SIZES = {
  companions: QUICK ? [1, 10] : [1, 10, 50],
  pieces: QUICK ? [1_000, 10_000] : [1_000, 10_000, 100_000],
  peers: QUICK ? [12] : [24]
}
const log = (...args) => console.error('[bench:growth]', ...args)
const script = (bench) => fileURLToPath(new URL(`../${bench}/${bench}.mjs`, import.meta.url))

/** Run one benchmark with `env` and `args`; its last stdout line, parsed */
async function run (bench, env, args = []) {
  log(`${bench} ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} ${args.join(' ')}`)
  const child = spawn(process.execPath, [script(bench), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  const last = out.trim().split('\n').at(-1)
  if (code !== 0 || last == null) throw new Error(`bench:${bench} exited with ${code}`)
  return JSON.parse(last)
}

const result = { name: 'growth', scale: QUICK ? 'quick' : 'full', join: [], write: [], mesh: [] }
for (const companions of SIZES.companions) {
  const r = await run('join', { COMPANIONS: String(companions), PIECES: '1000', RUNS: '1', STOCK: '0', TIMEOUT_S: String(120 + companions * 20) })
  result.join.push({ companions, pieces: companions * 1000, all_ms: r.all_ms, first_ms: r.first_ms, stalled: r.stalled, rss_mb: r.rss_mb, disk_mb: r.disk_mb, write_ms: r.write_ms })
}
for (const pieces of SIZES.pieces) {
  const r = await run('write', { PIECES: String(pieces), REPS: '1', RAW: '0' })
  result.write.push({ pieces, per_second: r.per_second, ms: r.ms, rss_mb: r.rss_mb, disk_mb: r.disk_mb })
}
for (const peers of SIZES.peers) {
  const r = await run('mesh', {}, ['--peers', String(peers), '--phase', 'full'])
  result.mesh.push({ peers, converged_ms: r.converged_ms, missing: r.missing, peak_rss_mb: r.peak_rss_mb })
}
console.log(JSON.stringify(result))
