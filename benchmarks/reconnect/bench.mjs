// Benchmark: kill -9 a companion's process and restart it from the same repo.
//   offline_detect_ms: kill -> the observer emits companion:offline
//   back_online_ms:    the restarted peer's node is up (transport:started) -> the
//                      observer emits companion:online
// The restarted peer listens on new ports, so the observer's last-known addresses
// are stale; what brings them together is the other half of the same feature: the
// restarted peer loads its companions db and dials every companion at once (the
// observer's own backoff redial would reach it only if the ports were the same).
// Several rounds; the medians are reported. Prints one JSON object on the last line.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// peerProcessScript: the one peer script of the companions tests and both benchmarks (see its header)
import { JsonLinesChild, peerProcessScript, percentile, round } from '@npp/testkit'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const now = () => performance.timeOrigin + performance.now()
const TIMEOUT = 30_000

function startPeer (name, repo) {
  const child = new JsonLinesChild(peerProcessScript, [repo], {
    name,
    onEvent: (e) => { if (e.event === 'error') console.error(`${name}:`, JSON.stringify(e)) }
  })
  child.spawnedAt = now()
  return child
}

const root = await mkdtemp(join(tmpdir(), 'npp-bench-reconnect-'))
const observer = startPeer('observer', join(root, 'observer'))
let companion = startPeer('companion', join(root, 'companion'))
const offline = []
const online = []
const fromSpawn = []
try {
  const [o, c] = await Promise.all([observer.next('ready', undefined, TIMEOUT), companion.next('ready', undefined, TIMEOUT)])
  observer.command({ cmd: 'connect', addr: c.multiaddrs[0] })
  await Promise.all([
    observer.next('companion:online', (e) => e.peerId === c.peerId, TIMEOUT),
    companion.next('companion:online', (e) => e.peerId === o.peerId, TIMEOUT)
  ])

  for (let round = 1; round <= ROUNDS; round++) {
    const wentOffline = observer.upcoming('companion:offline', (e) => e.peerId === c.peerId, TIMEOUT)
    const killedAt = now()
    companion.child.kill('SIGKILL')
    const off = await wentOffline
    await companion.exited

    const cameBack = observer.upcoming('companion:online', (e) => e.peerId === c.peerId, TIMEOUT)
    companion = startPeer('companion', join(root, 'companion'))
    const up = await companion.next('transport:started', undefined, TIMEOUT)
    const on = await cameBack
    // let the restarted peer settle (it sees the observer online too) before the next kill
    await companion.next('companion:online', (e) => e.peerId === o.peerId, TIMEOUT)
    await companion.next('ready', undefined, TIMEOUT)

    offline.push(off.at - killedAt)
    online.push(on.at - up.at)
    fromSpawn.push(on.at - companion.spawnedAt)
    console.log(`round ${round}: offline after ${(off.at - killedAt).toFixed(1)} ms; online ${(on.at - up.at).toFixed(1)} ms after the restarted node was up (${(on.at - companion.spawnedAt).toFixed(0)} ms after the process was spawned)`)
  }
} finally {
  await companion.kill()
  await observer.stop()
  await rm(root, { recursive: true, force: true })
}

console.log(JSON.stringify({
  name: 'reconnect',
  rounds: offline.length,
  offline_detect_ms: round(percentile(offline, 0.5), 1),
  back_online_ms: round(percentile(online, 0.5), 1),
  offline_detect_max_ms: round(Math.max(...offline), 1),
  back_online_max_ms: round(Math.max(...online), 1),
  restart_to_online_ms: round(percentile(fromSpawn, 0.5), 1)
}))
