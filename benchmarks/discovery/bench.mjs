// Benchmark: two peers in separate OS processes connect; a round ends when both
// have recorded the other as a companion (both emitted companion:discovered).
// Each round uses fresh repos (new peer ids, new dbs), so every round measures a
// first contact: announcement, manifest fetch, open, replication, validation.
// The worker processes stay up between rounds; the first round warms up their
// JIT and is not counted. Prints one JSON object on the last line.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROUNDS = Number(process.env.ROUNDS ?? 20)
const WARMUP = 1
const worker = fileURLToPath(new URL('./worker.mjs', import.meta.url))

function startWorker (name) {
  const child = spawn(process.execPath, [worker], { stdio: ['pipe', 'pipe', 'inherit'] })
  const events = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line)
    if (event.event === 'error' || event.event === 'rejected') console.error(`${name}:`, line)
    events.push(event)
    for (const w of [...waiters]) {
      if (w.match(event)) { waiters.splice(waiters.indexOf(w), 1); clearTimeout(w.timer); w.resolve(event) }
    }
  })
  const next = (match, timeoutMs = 30_000) => new Promise((resolve, reject) => {
    const found = events.find(match)
    if (found != null) { events.splice(events.indexOf(found), 1); resolve(found); return }
    const timer = setTimeout(() => { reject(new Error(`${name}: no matching event within ${timeoutMs} ms`)) }, timeoutMs)
    waiters.push({ match, resolve: (e) => { events.splice(events.indexOf(e), 1); resolve(e) }, timer })
  })
  return {
    child,
    next,
    send: (cmd) => { child.stdin.write(JSON.stringify(cmd) + '\n') },
    exited: new Promise((resolve) => child.on('exit', resolve))
  }
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
const round1 = (x) => Math.round(x * 10) / 10

const a = startWorker('a')
const b = startWorker('b')
await Promise.all([a.next((e) => e.event === 'started'), b.next((e) => e.event === 'started')])

const discovered = []
const recorded = []
try {
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    a.send({ cmd: 'fresh' })
    b.send({ cmd: 'fresh' })
    const [readyA, readyB] = await Promise.all([a.next((e) => e.event === 'ready'), b.next((e) => e.event === 'ready')])
    const aSeesB = a.next((e) => e.event === 'discovered' && e.nodeId === readyB.peerId)
    const bSeesA = b.next((e) => e.event === 'discovered' && e.nodeId === readyA.peerId)
    // "online" for a new companion is emitted once its record is written to the companions db
    const aStoredB = a.next((e) => e.event === 'online' && e.nodeId === readyB.peerId)
    const bStoredA = b.next((e) => e.event === 'online' && e.nodeId === readyA.peerId)
    a.send({ cmd: 'connect', addr: readyB.multiaddrs[0] })
    const start = (await a.next((e) => e.event === 'connecting')).at
    const [d1, d2, s1, s2] = await Promise.all([aSeesB, bSeesA, aStoredB, bStoredA])
    const ms = Math.max(d1.at, d2.at) - start
    const stored = Math.max(s1.at, s2.at) - start
    if (round >= WARMUP) {
      discovered.push(ms)
      recorded.push(stored)
    }
    console.log(`round ${round < WARMUP ? 'warm-up' : round - WARMUP + 1}: both discovered in ${ms.toFixed(1)} ms, both stored in ${stored.toFixed(1)} ms`)
  }
} finally {
  a.send({ cmd: 'exit' })
  b.send({ cmd: 'exit' })
  await Promise.all([a.exited, b.exited])
}

discovered.sort((x, y) => x - y)
recorded.sort((x, y) => x - y)
console.log(JSON.stringify({
  name: 'discovery',
  rounds: discovered.length,
  p50_ms: round1(percentile(discovered, 50)),
  p95_ms: round1(percentile(discovered, 95)),
  min_ms: round1(discovered[0]),
  max_ms: round1(discovered.at(-1)),
  stored_p50_ms: round1(percentile(recorded, 50)),
  stored_p95_ms: round1(percentile(recorded, 95))
}))
