// One benchmark peer (transport + companions + discovery) in its own process,
// on the repo given as argument (the same repo after a restart: same peer id,
// same companions db). Reports bus events on stdout as JSON lines with
// `at` = wall-clock ms (performance.timeOrigin + performance.now(), sub-ms).
// Commands: {"cmd":"connect","addr"} {"cmd":"exit"}
import { createInterface } from 'node:readline'
import { createBus } from '@npp/bus'
import { createCompanions } from '@npp/companions'
import { createDiscovery } from '@npp/discovery'
import { createTransport } from '@npp/transport'

const now = () => performance.timeOrigin + performance.now()
const out = (obj) => process.stdout.write(JSON.stringify({ at: now(), ...obj }) + '\n')
const bus = createBus()
bus.on('transport:started', ({ peerId }) => { out({ event: 'transport:started', peerId }) })
bus.on('companion:online', ({ peerId }) => { out({ event: 'online', peerId }) })
bus.on('companion:offline', ({ peerId }) => { out({ event: 'offline', peerId }) })
bus.on('companion:discovered', ({ profile }) => { out({ event: 'discovered', peerId: profile.nodeId }) })
const transport = createTransport({ bus, repo: process.argv[2] })
const companions = createCompanions({ bus, transport })
const discovery = createDiscovery({ bus, transport })
await transport.start()
await companions.start()
await discovery.start()
out({ event: 'ready', peerId: transport.peerId, multiaddrs: transport.multiaddrs })

const rl = createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  const command = JSON.parse(line)
  try {
    if (command.cmd === 'connect') await transport.connect(command.addr)
    if (command.cmd === 'exit') {
      rl.close()
      await discovery.stop()
      await companions.stop()
      await transport.stop()
      process.exit(0)
    }
  } catch (err) {
    out({ event: 'error', name: err.name, message: err.message })
  }
})
