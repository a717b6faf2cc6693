// The two-peer demo: two real peers on 127.0.0.1 connect and exchange a message.
// Run with `pnpm demo:two-peers` (builds first). Set LOG="npp:*" for debug logs.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBus } from '@npp/bus'
import { createTransport } from '@npp/transport'

const root = await mkdtemp(join(tmpdir(), 'npp-two-peers-'))
const started = performance.now()
const ms = () => `${(performance.now() - started).toFixed(0).padStart(5)} ms`

const alice = { name: 'alice', bus: createBus() }
const bob = { name: 'bob', bus: createBus() }
for (const p of [alice, bob]) {
  p.transport = createTransport({ bus: p.bus, repo: join(root, p.name) })
  p.bus.on('peer:connected', ({ peerId }) => console.log(`${ms()}  ${p.name}: connected to ${peerId}`))
  p.bus.on('message:received', ({ from, payload }) => console.log(`${ms()}  ${p.name}: message from ${from}: ${JSON.stringify(payload)}`))
}
try {
  await Promise.all([alice.transport.start(), bob.transport.start()])
  console.log(`${ms()}  alice is ${alice.transport.peerId}\n         listening on ${alice.transport.multiaddrs.join(', ')}`)
  console.log(`${ms()}  bob   is ${bob.transport.peerId}`)

  const received = alice.bus.waitFor('message:received', undefined, { timeoutMs: 10_000 })
  await bob.transport.connect(alice.transport.multiaddrs[0])
  await bob.transport.send(alice.transport.peerId, { type: 'hello', text: 'new piece, please!' })
  await received
  const reply = bob.bus.waitFor('message:received', undefined, { timeoutMs: 10_000 })
  await alice.transport.send(bob.transport.peerId, { type: 'hello', text: 'try the Bach cello suite no. 1' })
  await reply
  console.log(`${ms()}  two peers connected and exchanged messages both ways`)
} finally {
  await Promise.allSettled([alice.transport.stop(), bob.transport.stop()])
  await rm(root, { recursive: true, force: true })
}
