/**
 * A full peer of New Piece, Please! in its own OS process, for the fault,
 * hostile and soak suites: transport, catalog, discovery and companions on
 * one bus, started in the order the app (`createPeer`) starts them.
 *
 * Usage: node dist/child.js <repo> [options JSON, see PeerOptions]
 * stdin: one command per line (`{ id, cmd, ... }`, see Command); stdout: one
 * event per line (`{ event, at, ... }`): `ready`, every bus event (message
 * payloads summarised), `acked` after every write that `catalog.add` resolved,
 * `reply` for every command. stdout is a pipe, which Node writes synchronously
 * on Linux: an `acked` line is out before the next write starts, so a SIGKILL
 * can lose an unacknowledged write but never the report of an acknowledged one.
 */
import { Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { createBus } from '@npp/bus'
import { createCatalog } from '@npp/catalog'
import { createCompanions } from '@npp/companions'
import { createDiscovery } from '@npp/discovery'
import { Documents, KeyValue, OWN_DATABASES, createTransport, onNotice, openOwnDatabase } from '@npp/transport'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Command, DbState, PeerOptions } from './protocol.js'
import type { BusEvents } from '@npp/bus'
import type { Database } from '@npp/transport'

const now = (): number => performance.timeOrigin + performance.now()
const out = (event: Record<string, unknown>): void => { process.stdout.write(JSON.stringify({ ...event, at: now() }) + '\n') }

const repo = process.argv[2]
if (repo == null) {
  console.error('usage: child.js <repo> [options JSON]')
  process.exit(2)
}
const options = JSON.parse(process.argv[3] ?? '{}') as PeerOptions
const INSTRUMENTS = ['violin', 'cello', 'flute', 'oboe', 'piano', 'harp']

/** The CID (v1, raw, sha2-256) of a seed string: a valid piece hash */
export async function cidOf (seed: string): Promise<string> {
  return CID.create(1, 0x55, await sha256.digest(new TextEncoder().encode(seed))).toString()
}

const bus = createBus()
bus.onAny((type, payload) => {
  if (type === 'catalog:changed') return
  if (type === 'transport:failed') {
    out({ event: type, error: String((payload as BusEvents['transport:failed']).error) })
  } else if (type === 'message:received') {
    // payloads may be large and hostile: report who sent what kind of message
    const { from, payload: body } = payload as BusEvents['message:received']
    out({ event: type, from, type: typeof body.type === 'string' ? body.type.slice(0, 64) : null })
  } else {
    out({ event: type, ...(payload as object) })
  }
  // the size of discovery's pending list itself, once the step that added one is done
  // (hostile-consent checks the bound on it, not on a count rebuilt from events)
  if (type === 'companion:pending') {
    queueMicrotask(() => {
      try {
        out({ event: 'pending:size', size: discovery.pending().length })
      } catch { /* stopped meanwhile */ }
    })
  }
})

const transport = createTransport({
  bus,
  repo,
  ...(options.listen == null ? { listen: ['/ip4/127.0.0.1/tcp/0'] } : { listen: options.listen }),
  ...(options.connectionMonitor == null ? {} : { connectionMonitor: options.connectionMonitor })
})
const catalog = createCatalog({ bus, transport, ...(options.profile == null ? {} : { profile: options.profile }), ...options.catalog })
const companions = createCompanions({ bus, transport, ...(options.backoff == null ? {} : { backoff: options.backoff }) })
const discovery = createDiscovery({
  bus,
  transport,
  catalog,
  companions,
  // a harness peer for fault, hostile and scale runs: every valid peer is admitted unless the run
  // asks for consent (consent itself is tested in @npp/discovery and the app)
  accept: 'all',
  ...options.discovery
})

if (options.watchDials === true) {
  // every TCP socket this process opens, reported before it connects (libp2p's TCP transport
  // and anything else): no address beyond loopback may ever show up here
  const original = Socket.prototype.connect
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    // net.connect() passes its arguments on normalised: one array [options, callback]
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]
    if (first != null && typeof first === 'object') {
      const { host, port } = first as { host?: unknown, port?: unknown }
      out({ event: 'socket:connect', host: String(host ?? 'localhost'), port: Number(port) })
    } else if (typeof first === 'number' || typeof first === 'string') {
      out({ event: 'socket:connect', host: typeof args[1] === 'string' ? args[1] : 'localhost', port: Number(first) })
    }
    return (original as (...a: unknown[]) => Socket).apply(this, args)
  } as typeof Socket.prototype.connect
  // every dial through the transport (ours and the companions' redials), and how it ended
  const connect = transport.connect.bind(transport)
  transport.connect = async (address, connectOptions = {}) => {
    const advertised = connectOptions.advertised === true
    try {
      const result = await connect(address, connectOptions)
      out({ event: 'dial', address, advertised, ok: true })
      return result
    } catch (err) {
      out({ event: 'dial', address, advertised, ok: false, error: (err as Error).name, cause: ((err as Error).cause as Error | undefined)?.name })
      throw err
    }
  }
}

await transport.start()
await companions.start()
await catalog.start()
await discovery.start()

const own = {
  pieces: await openOwnDatabase(transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' })),
  user: await openOwnDatabase(transport.orbitdb, OWN_DATABASES.user, KeyValue()),
  companions: await openOwnDatabase(transport.orbitdb, OWN_DATABASES.companions, KeyValue())
}

if (options.watchDbs === true) {
  // OrbitDB refuses a remote entry with console.error only (no event); count each by reason
  const reasons: Array<[RegExp, string]> = [
    [/is not allowed to write/, 'not-allowed'],
    [/Could not validate signature/, 'bad-signature'],
    [/doesn't match the log's id/, 'wrong-log']
  ]
  const original = console.error.bind(console)
  console.error = (...args: unknown[]) => {
    const text = args.map((a) => a instanceof Error ? a.message : String(a)).join(' ')
    const match = reasons.find(([re]) => re.test(text))
    if (match == null) original(...args)
    else out({ event: 'db:refused', reason: match[1], detail: text.slice(0, 200) })
  }
  // what our gossipsub validators rejected on a db topic before OrbitDB saw it, by reason
  onNotice((notice) => {
    if (notice.source === 'pubsub') out({ event: 'db:refused', reason: `topic:${notice.kind}`, detail: notice.detail.slice(0, 200) })
  })
  for (const [name, db] of Object.entries(own)) {
    db.events.on('error', (err: Error) => { out({ event: 'db:refused', reason: 'sync-error', db: name, detail: err.message.slice(0, 200) }) })
  }
}

/** Streams this peer opened, by protocol (OrbitDB's per-db ones folded), and pubsub events it handled: where a mesh's work goes */
const counted: Record<string, number> = {}
if (options.countStreams === true) {
  const count = (key: string): void => { counted[key] = (counted[key] ?? 0) + 1 }
  const libp2p = transport.libp2p
  const dialProtocol = libp2p.dialProtocol.bind(libp2p)
  libp2p.dialProtocol = (async (peer: Parameters<typeof dialProtocol>[0], protocols: string | string[], dialOptions?: Parameters<typeof dialProtocol>[2]) => {
    const list = Array.isArray(protocols) ? protocols : [protocols]
    count(`dial ${list[0]?.replace(/\/orbitdb\/.*$/, '/orbitdb/<db>') ?? '?'}`)
    return await dialProtocol(peer, protocols, dialOptions)
  }) as typeof libp2p.dialProtocol
  libp2p.services.pubsub.addEventListener('subscription-change', () => { count('pubsub subscription-change') })
  libp2p.services.pubsub.addEventListener('message', () => { count('pubsub message') })
}

if (options.trackFetches != null) {
  // Count blocks that arrived from peers: over bitswap (not stored locally when asked for)
  // or in a log-blocks stream (stored through the blockstore). Our own writes are stored
  // the same way: the tests that track fetches write nothing while they watch.
  const every = options.trackFetches
  const blockstore = transport.helia.blockstore
  const get = blockstore.get.bind(blockstore)
  const put = blockstore.put.bind(blockstore)
  let fetched = 0
  const arrived = (): void => { if (++fetched % every === 0) out({ event: 'fetched', count: fetched }) }
  blockstore.get = async function * (cid, getOptions) {
    const local = await blockstore.has(cid)
    yield * get(cid, getOptions)
    if (!local) arrived()
  } as typeof blockstore.get
  blockstore.put = (async (cid, block, putOptions) => {
    const local = await blockstore.has(cid)
    const stored = await put(cid, block, putOptions)
    if (!local) arrived()
    return stored
  }) as typeof blockstore.put
}

if (options.statsEveryMs != null) {
  setInterval(() => { out({ event: 'stats', ...process.memoryUsage() }) }, options.statsEveryMs).unref()
}

out({
  event: 'ready',
  pid: process.pid,
  peerId: transport.peerId,
  multiaddrs: transport.multiaddrs,
  userDb: discovery.userDbAddress,
  pieces: catalog.piecesAddress,
  companionsDb: own.companions.address,
  identity: { id: transport.orbitdb.identity.id, hash: transport.orbitdb.identity.hash, publicKey: transport.orbitdb.identity.publicKey }
})

// ---------------------------------------------------------------------------

let writer: { stop: boolean } | undefined

async function write (prefix: string, count: number | undefined, instrument: string | undefined, intervalMs = 0): Promise<number> {
  const state = { stop: false }
  writer = state
  let written = 0
  for (let i = 0; count == null || i < count; i++) {
    if (state.stop) break
    const seed = `${prefix}-${i}`
    const hash = await cidOf(seed)
    await catalog.add({ hash, instrument: instrument ?? INSTRUMENTS[i % INSTRUMENTS.length]!, title: seed })
    out({ event: 'acked', hash, seed })
    written++
    if (intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  if (writer === state) writer = undefined
  return written
}

async function replicaOf (peerId: string, timeoutMs: number): Promise<{ status: string, reason: string | undefined, hashes: string[] }> {
  const result = await catalog.query({ timeoutMs }).done
  const outcome = result.sources.find((s) => s.source.kind === 'companion' && s.source.peerId === peerId)
  const hashes = result.hits.filter((h) => h.sources.some((s) => s.kind === 'companion' && s.peerId === peerId)).map((h) => h.hash)
  return { status: outcome?.status ?? 'unknown', reason: outcome?.reason, hashes }
}

/** Event-driven: re-check after every `catalog:replicated`/`companion:online` of that peer, until all are there or time is up */
async function waitReplica (peerId: string, hashes: string[], timeoutMs: number): Promise<{ ok: boolean, missing: string[], ms: number, status: string }> {
  const started = performance.now()
  let changed = false
  let wake: (() => void) | undefined
  const onChange = (e: { peerId: string }): void => {
    if (e.peerId !== peerId) return
    changed = true
    wake?.()
  }
  bus.on('catalog:replicated', onChange)
  bus.on('companion:online', onChange)
  try {
    for (;;) {
      changed = false
      const left = timeoutMs - (performance.now() - started)
      const replica = await replicaOf(peerId, Math.max(1, Math.min(2_000, Math.round(left))))
      const have = new Set(replica.hashes)
      const missing = hashes.filter((h) => !have.has(h))
      if (missing.length === 0) return { ok: true, missing, ms: performance.now() - started, status: replica.status }
      const remaining = timeoutMs - (performance.now() - started)
      if (remaining <= 0) return { ok: false, missing, ms: performance.now() - started, status: replica.status }
      if (!changed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining)
          wake = () => { clearTimeout(timer); resolve() }
        })
        wake = undefined
      }
    }
  } finally {
    bus.off('catalog:replicated', onChange)
    bus.off('companion:online', onChange)
  }
}

async function stateOf (db: Database & { all(): Promise<unknown[]> }): Promise<DbState> {
  const heads = (await db.log.heads()).map((h) => h.hash).sort()
  const entries = (await db.log.values()).length
  const values = (await db.all()).map((v) => JSON.stringify(v)).sort()
  return { address: db.address, heads, entries, values: JSON.stringify(values) }
}

let stopping: Promise<void> | undefined
async function stop (): Promise<void> {
  stopping ??= (async () => {
    if (writer != null) writer.stop = true
    await companions.stop()
    await discovery.stop()
    await catalog.stop()
    await transport.stop()
  })()
  await stopping
}

async function run (command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'connect': return await discovery.connect(command.addr)
    case 'add': {
      const hash = await cidOf(command.seed)
      await catalog.add({ hash, instrument: command.instrument ?? 'violin', title: command.seed })
      return { hash }
    }
    case 'write': return { written: await write(command.prefix, command.count, command.instrument, command.intervalMs) }
    case 'stopWriting': {
      if (writer != null) writer.stop = true
      return {}
    }
    case 'pieces': return { hashes: (await catalog.all()).map((p) => p.hash) }
    case 'replica': return await replicaOf(command.peerId, command.timeoutMs ?? 2_000)
    case 'waitReplica': return await waitReplica(command.peerId, command.hashes, command.timeoutMs)
    case 'companions': return { companions: await companions.list() }
    case 'replicas': return { replicas: catalog.replicas() }
    case 'pending': return { pending: discovery.pending() }
    case 'accept': return { accepted: discovery.accept(command.target) }
    case 'decline': return { declined: await discovery.decline(command.target) }
    case 'diagnostics': return transport.diagnostics()
    case 'dbState': return { pieces: await stateOf(own.pieces), user: await stateOf(own.user), companions: await stateOf(own.companions) }
    case 'stats': {
      const gc = (globalThis as { gc?: () => void }).gc
      if (command.gc === true && gc != null) gc()
      const cpu = process.cpuUsage()
      return { ...process.memoryUsage(), cpuMs: (cpu.user + cpu.system) / 1000, ...(options.countStreams === true ? { counted } : {}) }
    }
    case 'query': {
      const started = performance.now()
      const result = await catalog.query({ ...(command.instrument == null ? {} : { instrument: command.instrument }), timeoutMs: command.timeoutMs ?? 3_000 }).done
      return { ms: performance.now() - started, summary: result.summary, sources: result.sources.map((s) => ({ peerId: s.source.peerId, kind: s.source.kind, status: s.status, reason: s.reason, ms: s.ms })) }
    }
    case 'stop': {
      await stop()
      return {}
    }
  }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  let command: Command & { id: number }
  try {
    command = JSON.parse(line) as Command & { id: number }
  } catch {
    out({ event: 'error', message: `not a command: ${line.slice(0, 100)}` })
    return
  }
  run(command).then(
    (result) => {
      out({ event: 'reply', id: command.id, ok: true, result })
      if (command.cmd === 'stop') process.exit(0)
    },
    (err: unknown) => { out({ event: 'reply', id: command.id, ok: false, error: { name: (err as Error).name, message: (err as Error).message } }) }
  )
})
// The test that drove us is gone: stop cleanly, then exit
rl.on('close', () => {
  stop().then(() => { process.exit(0) }, () => { process.exit(1) })
})
