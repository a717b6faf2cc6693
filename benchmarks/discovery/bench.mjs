// Benchmark: two peers in separate OS processes connect; a round ends when both
// have recorded the other as a companion: stored in their companions db (for a new
// companion, companion:online follows that write). The two companion:discovered
// events (validated, not yet stored) are reported as discovered_*.
// Each round uses fresh repos (new peer ids, new dbs), so every round measures a
// first contact: announcement, manifest fetch, open, replication, validation, write.
// The peer processes stay up between rounds; the first round warms up their JIT
// and is not counted. Prints one JSON object on the last line.
// peerProcessScript: the one peer script of the companions tests and both benchmarks (see its header)
import { JsonLinesChild, peerProcessScript, percentile, round } from '@npp/testkit'

const ROUNDS = Number(process.env.ROUNDS ?? 20)
const WARMUP = 1
const TIMEOUT = 30_000

const startPeer = (name) => new JsonLinesChild(peerProcessScript, [], {
  name,
  onEvent: (e) => { if (e.event === 'error' || e.event === 'discovery:rejected') console.error(`${name}:`, JSON.stringify(e)) }
})

const a = startPeer('a')
const b = startPeer('b')
await Promise.all([a.take('started', undefined, TIMEOUT), b.take('started', undefined, TIMEOUT)])

const stored = []
const discovered = []
try {
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    a.command({ cmd: 'fresh' })
    b.command({ cmd: 'fresh' })
    const [readyA, readyB] = await Promise.all([a.take('ready', undefined, TIMEOUT), b.take('ready', undefined, TIMEOUT)])
    const aSeesB = a.take('companion:discovered', (e) => e.profile.nodeId === readyB.peerId, TIMEOUT)
    const bSeesA = b.take('companion:discovered', (e) => e.profile.nodeId === readyA.peerId, TIMEOUT)
    const aStoredB = a.take('companion:online', (e) => e.peerId === readyB.peerId, TIMEOUT)
    const bStoredA = b.take('companion:online', (e) => e.peerId === readyA.peerId, TIMEOUT)
    a.command({ cmd: 'connect', addr: readyB.multiaddrs[0] })
    const start = (await a.take('connecting', undefined, TIMEOUT)).at
    const [d1, d2, s1, s2] = await Promise.all([aSeesB, bSeesA, aStoredB, bStoredA])
    const bothDiscovered = Math.max(d1.at, d2.at) - start
    const bothStored = Math.max(s1.at, s2.at) - start
    if (round >= WARMUP) {
      stored.push(bothStored)
      discovered.push(bothDiscovered)
    }
    console.log(`round ${round < WARMUP ? 'warm-up' : round - WARMUP + 1}: both stored the other in ${bothStored.toFixed(1)} ms (both discovered in ${bothDiscovered.toFixed(1)} ms)`)
  }
} finally {
  await Promise.all([a.stop(), b.stop()])
}

console.log(JSON.stringify({
  name: 'discovery',
  rounds: stored.length,
  p50_ms: round(percentile(stored, 0.5), 1),
  p95_ms: round(percentile(stored, 0.95), 1),
  min_ms: round(Math.min(...stored), 1),
  max_ms: round(Math.max(...stored), 1),
  discovered_p50_ms: round(percentile(discovered, 0.5), 1),
  discovered_p95_ms: round(percentile(discovered, 0.95), 1)
}))
