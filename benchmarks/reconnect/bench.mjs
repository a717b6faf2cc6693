// Benchmark: kill -9 a companion's process and restart it from the same repo.
//   offline_detect_ms: kill -> the observer emits companion:offline
//   back_online_ms:    the restarted peer's node is up (transport:started) -> the
//                      observer emits companion:online
// The restarted peer listens on new ports, so the observer's last-known addresses
// are stale; what brings them together is the other half of the same feature: the
// restarted peer loads its companions db and dials every companion at once (the
// observer's own backoff redial would reach it only if the ports were the same).
// Several rounds; the medians are reported. Prints one JSON object on the last line.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const worker = fileURLToPath(new URL('./worker.mjs', import.meta.url))
const now = () => performance.timeOrigin + performance.now()

function startWorker (name, repo) {
  const spawnedAt = now()
  const child = spawn(process.execPath, [worker, repo], { stdio: ['pipe', 'pipe', 'inherit'] })
  const events = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line)
    if (event.event === 'error') console.error(`${name}:`, line)
    events.push(event)
    for (const w of [...waiters]) {
      if (w.match(event)) { waiters.splice(waiters.indexOf(w), 1); clearTimeout(w.timer); w.resolve(event) }
    }
  })
  // the first matching event from now on, or one already seen if `seen` is true
  const next = (match, { seen = true, timeoutMs = 30_000 } = {}) => new Promise((resolve, reject) => {
    const found = seen ? events.find(match) : undefined
    if (found != null) { resolve(found); return }
    const timer = setTimeout(() => { reject(new Error(`${name}: no matching event within ${timeoutMs} ms`)) }, timeoutMs)
    waiters.push({ match, resolve, timer })
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  return { child, next, spawnedAt, exited, send: (cmd) => { child.stdin.write(JSON.stringify(cmd) + '\n') } }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
const round1 = (x) => Math.round(x * 10) / 10

const root = await mkdtemp(join(tmpdir(), 'npp-bench-reconnect-'))
const observer = startWorker('observer', join(root, 'observer'))
let companion = startWorker('companion', join(root, 'companion'))
const offline = []
const online = []
const fromSpawn = []
try {
  const [o, c] = await Promise.all([observer.next((e) => e.event === 'ready'), companion.next((e) => e.event === 'ready')])
  observer.send({ cmd: 'connect', addr: c.multiaddrs[0] })
  await Promise.all([
    observer.next((e) => e.event === 'online' && e.peerId === c.peerId),
    companion.next((e) => e.event === 'online' && e.peerId === o.peerId)
  ])

  for (let round = 1; round <= ROUNDS; round++) {
    const wentOffline = observer.next((e) => e.event === 'offline' && e.peerId === c.peerId, { seen: false })
    const killedAt = now()
    companion.child.kill('SIGKILL')
    const off = await wentOffline
    await companion.exited

    const cameBack = observer.next((e) => e.event === 'online' && e.peerId === c.peerId, { seen: false })
    companion = startWorker('companion', join(root, 'companion'))
    const up = await companion.next((e) => e.event === 'transport:started')
    const on = await cameBack
    // let the restarted peer settle (it sees the observer online too) before the next kill
    await companion.next((e) => e.event === 'online' && e.peerId === o.peerId)
    await companion.next((e) => e.event === 'ready')

    offline.push(off.at - killedAt)
    online.push(on.at - up.at)
    fromSpawn.push(on.at - companion.spawnedAt)
    console.log(`round ${round}: offline after ${(off.at - killedAt).toFixed(1)} ms; online ${(on.at - up.at).toFixed(1)} ms after the restarted node was up (${(on.at - companion.spawnedAt).toFixed(0)} ms after the process was spawned)`)
  }
} finally {
  companion.child.kill('SIGKILL')
  observer.send({ cmd: 'exit' })
  await observer.exited
  await rm(root, { recursive: true, force: true })
}

console.log(JSON.stringify({
  name: 'reconnect',
  rounds: offline.length,
  offline_detect_ms: round1(median(offline)),
  back_online_ms: round1(median(online)),
  offline_detect_max_ms: round1(Math.max(...offline)),
  back_online_max_ms: round1(Math.max(...online)),
  restart_to_online_ms: round1(median(fromSpawn))
}))
