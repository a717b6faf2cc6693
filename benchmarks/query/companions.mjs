// N companions (transport + catalog each) in this one OS process, driven over
// stdin/stdout with JSON lines, so the benchmark's querier runs alone in its
// process while these use the machine's other core.
//   argv: <count> <base dir>
//   out:  {"event":"ready","companions":[{username,peerId,multiaddrs,pieces,userDb}]}
//   in:   {"cmd":"write","pieces":1000,"shared":100,"instruments":[...]} -> {"event":"written","ms"}
//   in:   {"cmd":"stop"} -> {"event":"stopped"}, then exit
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { KeyValue, OWN_DATABASES, createTransport, openOwnDatabase } from '@npp/transport'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const count = Number(process.argv[2] ?? 1)
const base = process.argv[3]
const tag = process.argv[4] ?? 'c'

const cidOf = async (seed) => CID.create(1, 0x55, await sha256.digest(new TextEncoder().encode(seed))).toString()

const peers = []
for (let i = 0; i < count; i++) {
  const repo = join(base, `companion-${i}`)
  await mkdir(repo, { recursive: true })
  const bus = createBus()
  // liveness pings off: ten peers writing 10,000 docs on one core answer pings late, and
  // this benchmark has no companions package to redial a connection the monitor closed
  const transport = createTransport({ bus, repo, connectionMonitor: false })
  const catalog = createCatalog({ bus, transport })
  await transport.start()
  await catalog.start()
  const username = `companion-${i}`
  const user = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.user, KeyValue())
  peers.push({ i, username, transport, catalog, userDb: user.address })
}
out({
  event: 'ready',
  companions: peers.map((p) => ({ username: p.username, peerId: p.transport.peerId, multiaddrs: p.transport.multiaddrs, pieces: p.catalog.piecesAddress, userDb: p.userDb }))
})

async function write ({ pieces, shared = 0, instruments }) {
  const started = performance.now()
  await Promise.all(peers.map(async (p) => {
    const jobs = []
    for (let n = 0; n < pieces; n++) {
      // the first `shared` pieces are the same on every companion (de-duplicated by the query)
      const seed = n < shared ? `${tag}-shared-${n}` : `${tag}-${p.i}-${n}`
      jobs.push(cidOf(seed).then((hash) => p.catalog.add({
        hash,
        instrument: instruments[n % instruments.length],
        title: `Piece ${n} of ${p.username}`,
        composer: `Composer ${n % 37}`,
        addedAt: n
      })))
    }
    await Promise.all(jobs) // each db appends in order; the 10 dbs write at the same time
  }))
  return performance.now() - started
}

const rl = createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  const command = JSON.parse(line)
  try {
    if (command.cmd === 'write') out({ event: 'written', ms: await write(command) })
    if (command.cmd === 'stop') {
      rl.close()
      for (const p of peers) { await p.catalog.stop(); await p.transport.stop() }
      out({ event: 'stopped' })
      process.exit(0)
    }
  } catch (err) {
    out({ event: 'error', name: err.name, message: err.message })
  }
})
