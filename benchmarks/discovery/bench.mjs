// Benchmark: two peers in separate OS processes connect; a round ends when both
// have recorded the other as a companion (both emitted companion:discovered).
// Each round uses fresh repos (new peer ids, new dbs), so every round measures a
// first contact: announcement, manifest fetch, open, replication, validation.
// The worker processes stay up between rounds; the first round warms up their
// JIT and is not counted. Prints one JSON object on the last line.
import { fileURLToPath } from 'node:url'
import { JsonLinesChild, percentile, round } from '@npp/testkit'

const ROUNDS = Number(process.env.ROUNDS ?? 20)
const WARMUP = 1
const worker = fileURLToPath(new URL('./worker.mjs', import.meta.url))

const startWorker = (name) => new JsonLinesChild(worker, [], {
  name,
  onEvent: (e) => { if (e.event === 'error' || e.event === 'rejected') console.error(`${name}:`, JSON.stringify(e)) }
})
const TIMEOUT = 30_000

const a = startWorker('a')
const b = startWorker('b')
await Promise.all([a.take('started', undefined, TIMEOUT), b.take('started', undefined, TIMEOUT)])

const discovered = []
const recorded = []
try {
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    a.command({ cmd: 'fresh' })
    b.command({ cmd: 'fresh' })
    const [readyA, readyB] = await Promise.all([a.take('ready', undefined, TIMEOUT), b.take('ready', undefined, TIMEOUT)])
    const aSeesB = a.take('discovered', (e) => e.nodeId === readyB.peerId, TIMEOUT)
    const bSeesA = b.take('discovered', (e) => e.nodeId === readyA.peerId, TIMEOUT)
    // "online" for a new companion is emitted once its record is written to the companions db
    const aStoredB = a.take('online', (e) => e.nodeId === readyB.peerId, TIMEOUT)
    const bStoredA = b.take('online', (e) => e.nodeId === readyA.peerId, TIMEOUT)
    a.command({ cmd: 'connect', addr: readyB.multiaddrs[0] })
    const start = (await a.take('connecting', undefined, TIMEOUT)).at
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
  a.command({ cmd: 'exit' })
  b.command({ cmd: 'exit' })
  await Promise.all([a.exited, b.exited])
}

console.log(JSON.stringify({
  name: 'discovery',
  rounds: discovered.length,
  p50_ms: round(percentile(discovered, 0.5), 1),
  p95_ms: round(percentile(discovered, 0.95), 1),
  min_ms: round(Math.min(...discovered), 1),
  max_ms: round(Math.max(...discovered), 1),
  stored_p50_ms: round(percentile(recorded, 0.5), 1),
  stored_p95_ms: round(percentile(recorded, 0.95), 1)
}))
