// Memory: what a peer of ours holds, in its own process (tests/reliability's child peer).
// 1. a plain libp2p + Helia + OrbitDB peer (no npp), idle, after a full GC: the baseline;
// 2. a new npp peer, idle, after a full GC;
// 3. the same peer while 10,000 hostile messages (tests/reliability's categories, one hostile
//    identity per category, flow-controlled so that every message reached it) arrive on its
//    topic; RSS right after, 30 s after (as the OS sees it), and 30 s after with a full GC.
// Steps 2 and 3 run twice, each on a fresh repo: with Node's defaults (`node_defaults`, the old
// path) and with the Node settings `npp start` runs a peer with (`npp_runtime`, the app's
// PEER_RUNTIME: a small young generation, glibc malloc tunables).
//
// 4. a fresh peer, run as `npp start` runs one, that joined 10 companions with 1,000 pieces each
//    (bench:join's setup, the companions in a process of their own): its RSS after a full GC;
// 5. a CLI client: the peak RSS of `npp id --json` against a running `npp start` (median of 5).
//
// Usage: node memory.mjs [--settle 30]
// Progress goes to stderr; the last line on stdout is one JSON object:
// {"name":"memory","idle_mb":..,"ten_companions_mb":..,"cli_mb":..,"raw_idle_rss_mb":..,"after_hostile_rss_mb":..,"node_defaults":{..},"npp_runtime":{..},"goals_mb":{..}}
import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { CATEGORY_COUNTS, ChildPeer, categoryMessages, createHostilePeer, missingAddresses, now } from '@npp/reliability'
import { JsonLinesChild, percentile, round } from '@npp/testkit'
import { PEER_RUNTIME } from 'new-piece-please/runtime'

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { settle: { type: 'string', default: '30' } }
})
const SETTLE_MS = Number(args.settle) * 1000
const MB = 1024 * 1024
const mb = (n) => round(n / MB, 1)
const t0 = now()
const log = (...parts) => { process.stderr.write(`[memory ${round((now() - t0) / 1000, 1)}s] ${parts.join(' ')}\n`) }

/** A plain libp2p + Helia + OrbitDB peer in a process of its own: its RSS after a full GC, idle */
async function rawPeerRss () {
  const script = `
    import { createHostilePeer } from '@npp/reliability'
    const peer = await createHostilePeer()
    await peer.orbitdb()
    await new Promise((r) => setTimeout(r, 2000))
    globalThis.gc()
    process.stdout.write(JSON.stringify(process.memoryUsage()) + '\\n')
    await peer.stop()
    process.exit(0)`
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`the raw peer exited with ${code}`)
  return JSON.parse(out.trim().split('\n').at(-1))
}

const NPP = fileURLToPath(new URL('../../apps/new-piece-please/bin/npp.js', import.meta.url))
const JOIN = fileURLToPath(new URL('../join/join.mjs', import.meta.url))

/** bench:join's fresh peer (10 companions × 1,000 pieces), run with the peer runtime: its RSS after a full GC, once all are replicated */
async function tenCompanionsRss () {
  const child = spawn(process.execPath, ['--expose-gc', ...PEER_RUNTIME.nodeFlags, JOIN], {
    env: { ...process.env, ...PEER_RUNTIME.env, RUNS: '1', STOCK: '0' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`bench:join exited with ${code}`)
  const result = JSON.parse(out.trim().split('\n').at(-1))
  if (result.finished !== 1) throw new Error(`the joining peer did not get all 10,000 pieces: ${JSON.stringify(result)}`)
  return result
}

/**
 * Run `npp args` with a preload that reports the process's peak RSS (kB) on stderr as it exits:
 * VmHWM, the high-water mark of its own memory since exec (`resourceUsage().maxRSS` keeps the
 * peak of the forked copy of this process, ~200 MB here, from before the exec)
 */
async function nppPeak (args) {
  const preload = 'data:text/javascript,process.on("exit",()=>process.stderr.write("NPP_MAXRSS_KB "+/VmHWM:\\s*(\\d+)/.exec(process.getBuiltinModule("node:fs").readFileSync("/proc/self/status","utf8"))[1]+"\\n"))'
  const { stderr } = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', preload, NPP, ...args], { env: { ...process.env, NPP_REPO: '' } }, (err, stdout, stderr) => {
      if (err != null) reject(new Error(`npp ${args.join(' ')} failed: ${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
  const kb = Number(/NPP_MAXRSS_KB (\d+)/.exec(stderr)?.[1])
  if (!Number.isFinite(kb)) throw new Error(`npp ${args.join(' ')} reported no peak RSS`)
  return kb * 1024
}

/** `npp start` in a process of its own, then `npp id --json` against it five times: the client's median peak RSS */
async function cliRss () {
  const repo = await mkdtemp(join(tmpdir(), 'npp-bench-memory-cli-'))
  dirs.push(repo)
  const peer = new JsonLinesChild(NPP, ['start', '--repo', repo, '--json'], { name: 'npp start', env: { ...process.env, NPP_REPO: '' }, echoStderr: false })
  try {
    await peer.next('started', () => true, 60_000)
    const peaks = []
    for (let i = 0; i < 5; i++) peaks.push(await nppPeak(['id', '--json', '--repo', repo]))
    return { median: percentile(peaks, 0.5), all: peaks }
  } finally {
    await nppPeak(['stop', '--repo', repo]).catch(() => {})
    await Promise.race([peer.exited, sleep(15_000)])
    await peer.kill().catch(() => {})
  }
}

const dirs = []
const hostiles = []
let target

/** A new npp peer with `runtime` (Node flags and environment): idle, then 10,000 hostile messages */
async function measure (label, runtime) {
  const repo = await mkdtemp(join(tmpdir(), 'npp-bench-memory-'))
  dirs.push(repo)
  target = await ChildPeer.start({
    name: 'target',
    repo,
    nodeFlags: ['--expose-gc', ...runtime.nodeFlags],
    env: runtime.env,
    stderr: false,
    // as tests/reliability's hostile suite: short retries, no liveness pings (the hostile peers
    // publish from this busy process), every db of a sender judged
    options: { discovery: { replicationTimeoutMs: 5_000, maxQueued: 8, maxPerSender: 10, validationRetry: { attempts: 3, initialMs: 200, maxMs: 1_000 } }, connectionMonitor: false, statsEveryMs: 250 }
  })
  await sleep(2_000) // let the start's work finish before measuring idle
  const idle = await target.request({ cmd: 'stats', gc: true })
  log(`${label} idle: ${mb(idle.rss)} MB RSS`)

  // per sender: messages sent, and messages the target's transport accounted for
  const sent = new Map()
  const delivered = new Map()
  const outcomes = {}
  const count = (e) => {
    if (e.event !== 'message:received' && e.event !== 'message:rejected') return
    delivered.set(String(e.from), (delivered.get(String(e.from)) ?? 0) + 1)
    const key = e.event === 'message:rejected' ? `rejected:${e.reason}` : 'received'
    outcomes[key] = (outcomes[key] ?? 0) + 1
  }
  const missing = missingAddresses(target.ready.userDb, 8)
  const ctx = { missingDb: missing[0], realButWrong: [target.ready.userDb, target.ready.companionsDb, ...missing.slice(1, 4)], otherUserDbs: missing.slice(4) }
  const before = await target.request({ cmd: 'stats', gc: true })
  const started = now()
  let mark = target.mark()
  let total = 0
  const caughtUp = (peerId) => {
    for (const e of target.events.slice(mark)) count(e)
    mark = target.events.length
    return (delivered.get(peerId) ?? 0) >= sent.get(peerId)
  }
  let seed = 1
  let reconnects = 0
  const rssByCategory = {}
  for (const [category, n] of Object.entries(CATEGORY_COUNTS)) {
    const h = await createHostilePeer()
    hostiles.push(h)
    await h.connect(target.address)
    await h.waitSubscribed(target.peerId)
    await h.waitOutbound(target.peerId)
    sent.set(h.peerId, 0)
    for (const { bytes } of categoryMessages(category, n, ctx, seed++)) {
      if (await h.publish(target.peerId, bytes) === 0) {
        // gossipsub can keep a closed outbound stream (libp2p/js-libp2p#3531): reconnect, as the hostile suite does
        reconnects++
        await h.libp2p.hangUp(h.libp2p.getConnections().find((c) => c.remotePeer.toString() === target.peerId).remotePeer)
        await h.connect(target.address)
        await h.waitSubscribed(target.peerId)
        await h.waitOutbound(target.peerId)
        if (await h.publish(target.peerId, bytes) === 0) throw new Error(`a ${category} message reached nobody, also after reconnecting`)
      }
      sent.set(h.peerId, sent.get(h.peerId) + 1)
      total++
      if (sent.get(h.peerId) % 250 === 0 && !caughtUp(h.peerId)) await target.waitFor(() => caughtUp(h.peerId), { timeoutMs: 120_000, what: `delivery of the ${category} messages` })
    }
    if (!caughtUp(h.peerId)) await target.waitFor(() => caughtUp(h.peerId), { timeoutMs: 120_000, what: `delivery of the ${category} messages` })
    const { rss } = await target.request({ cmd: 'stats' })
    rssByCategory[category] = mb(rss)
    log(`${label} ${category}: ${n} delivered, ${mb(rss)} MB RSS`)
  }
  const sentMs = now() - started
  const after = await target.request({ cmd: 'stats' })
  log(`${label} 10,000 delivered in ${round(sentMs)} ms; waiting ${SETTLE_MS / 1000} s`)
  await sleep(SETTLE_MS)
  const settled = await target.request({ cmd: 'stats' })
  const settledGc = await target.request({ cmd: 'stats', gc: true })
  const samples = target.events.filter((e) => e.event === 'stats' && e.at >= started)
  const peak = (field) => Math.max(...samples.map((s) => s[field]), after[field])
  if (!target.alive) throw new Error('the target crashed')
  await Promise.all(hostiles.splice(0).map(async (h) => { await h.stop().catch(() => {}) }))
  await target.stop()
  target = undefined
  return {
    idle_rss_mb: mb(idle.rss),
    idle_heap_mb: mb(idle.heapUsed),
    hostile: {
      messages: total,
      send_ms: round(sentMs),
      hostile_reconnects: reconnects,
      outcomes,
      rss_mb_after_each_category: rssByCategory,
      before_rss_mb: mb(before.rss),
      peak_rss_mb: mb(peak('rss')),
      peak_heap_total_mb: mb(peak('heapTotal')),
      after_rss_mb: mb(after.rss),
      after_30s_rss_mb: mb(settled.rss),
      after_30s_gc_rss_mb: mb(settledGc.rss),
      after_30s_gc_heap_mb: mb(settledGc.heapUsed),
      after_30s_gc_heap_total_mb: mb(settledGc.heapTotal),
      after_30s_gc_external_mb: mb(settledGc.external)
    }
  }
}

try {
  log('raw libp2p + Helia + OrbitDB peer')
  const raw = await rawPeerRss()
  const defaults = await measure('node defaults', { nodeFlags: [], env: {} })
  const tuned = await measure('npp runtime', PEER_RUNTIME)
  log('a CLI client against a running peer')
  const cli = await cliRss()
  log(`npp id --json: ${mb(cli.median)} MB peak RSS`)
  log('a fresh peer joining 10 companions × 1,000 pieces (bench:join)')
  const ten = await tenCompanionsRss()
  log(`after joining: ${ten.rss_after_gc_mb} MB RSS after a full GC`)
  console.log(JSON.stringify({
    name: 'memory',
    idle_mb: tuned.idle_rss_mb,
    ten_companions_mb: ten.rss_after_gc_mb,
    cli_mb: mb(cli.median),
    cli_runs_mb: cli.all.map(mb),
    raw_idle_rss_mb: mb(raw.rss),
    raw_idle_heap_mb: mb(raw.heapUsed),
    // the peer as `npp start` runs it
    idle_rss_mb: tuned.idle_rss_mb,
    after_hostile_rss_mb: tuned.hostile.after_30s_rss_mb,
    npp_runtime: { node_flags: PEER_RUNTIME.nodeFlags, env: PEER_RUNTIME.env, ...tuned },
    node_defaults: defaults,
    goals_mb: { idle: 120, ten_companions: 250, cli: 60, after_hostile_rss: 200 }
  }))
} finally {
  await Promise.all(hostiles.map(async (h) => { await h.stop().catch(() => {}) }))
  if (target != null) await target.stop().catch(() => {})
  for (const d of dirs) await rm(d, { recursive: true, force: true })
}
