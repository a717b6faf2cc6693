// One benchmark peer process. It hosts one full peer (transport + companions +
// discovery) at a time, each in a fresh temporary repo, so every round is a first
// contact (cold: nothing of the other peer is cached) without paying for a Node
// process start per round. Driven by JSON lines on stdin; reports on stdout with
// `at` = wall-clock ms (performance.timeOrigin + performance.now(), sub-ms).
// Commands: {"cmd":"fresh"} {"cmd":"connect","addr"} {"cmd":"exit"}
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createBus } from '@npp/bus'
import { createCompanions } from '@npp/companions'
import { createDiscovery } from '@npp/discovery'
import { createTransport } from '@npp/transport'

const now = () => performance.timeOrigin + performance.now()
const out = (obj) => process.stdout.write(JSON.stringify({ at: now(), ...obj }) + '\n')
let peer

async function stopPeer () {
  if (peer == null) return
  const { discovery, companions, transport, repo } = peer
  peer = undefined
  await discovery.stop()
  await companions.stop()
  await transport.stop()
  await rm(repo, { recursive: true, force: true })
}

async function fresh () {
  await stopPeer()
  const repo = await mkdtemp(join(tmpdir(), 'npp-bench-discovery-'))
  const bus = createBus()
  const transport = createTransport({ bus, repo })
  const companions = createCompanions({ bus, transport })
  const discovery = createDiscovery({ bus, transport })
  bus.on('companion:discovered', ({ profile }) => { out({ event: 'discovered', nodeId: profile.nodeId }) })
  bus.on('companion:online', ({ peerId }) => { out({ event: 'online', nodeId: peerId }) })
  bus.on('discovery:rejected', (e) => { out({ event: 'rejected', ...e }) })
  if (process.env.BENCH_TRACE === '1') bus.onAny((type) => { out({ event: 'bus', type }) })
  await transport.start()
  await companions.start()
  await discovery.start()
  peer = { discovery, companions, transport, repo }
  out({ event: 'ready', peerId: transport.peerId, multiaddrs: transport.multiaddrs })
}

const rl = createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  const command = JSON.parse(line)
  try {
    if (command.cmd === 'fresh') await fresh()
    if (command.cmd === 'connect') {
      out({ event: 'connecting' })
      await peer.transport.connect(command.addr)
    }
    if (command.cmd === 'exit') {
      await stopPeer()
      rl.close()
      out({ event: 'exited' })
      process.exit(0)
    }
  } catch (err) {
    out({ event: 'error', name: err.name, message: err.message })
  }
})
out({ event: 'started' })
