import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ApiClient } from '../api/client.js'
import { DemoFailedError, QueryFailedError } from '../errors.js'
import { reportError, short, table } from './output.js'
import type { QueryLine } from '../api/routes/query.js'
import type { ChildProcess } from 'node:child_process'
import type { QueryEvent, QuerySource } from '@npp/catalog'

/**
 * `npp demo`: three peers (alice, bob, carol), each `npp start` in its own OS
 * process on 127.0.0.1 with a temporary repo and a few fixture pieces. Alice
 * invites bob and carol, bob invites carol; with the invites they connect,
 * discover each other and become companions on both sides; then alice
 * asks every catalog for violin pieces. Everything is stopped and the temporary
 * repos are removed at the end, also on failure or Ctrl-C.
 */

const BIN = fileURLToPath(new URL('../../bin/npp.js', import.meta.url))

interface Fixture { title: string, composer: string, instrument: string }

// The score "files" are small text stand-ins; the same text on two peers is the same
// CID, so the query shows that piece once with both sources.
const FIXTURES: Record<string, Fixture[]> = {
  alice: [
    { title: 'Partita No. 2 in D minor', composer: 'J. S. Bach', instrument: 'violin' },
    { title: 'Méditation (Thaïs)', composer: 'Jules Massenet', instrument: 'violin' },
    { title: 'Clair de lune', composer: 'Claude Debussy', instrument: 'piano' }
  ],
  bob: [
    { title: 'Partita No. 2 in D minor', composer: 'J. S. Bach', instrument: 'violin' },
    { title: 'Csárdás', composer: 'Vittorio Monti', instrument: 'violin' },
    { title: 'Cello Suite No. 1', composer: 'J. S. Bach', instrument: 'cello' }
  ],
  carol: [
    { title: 'The Lark Ascending', composer: 'Ralph Vaughan Williams', instrument: 'violin' },
    { title: 'Csárdás', composer: 'Vittorio Monti', instrument: 'violin' },
    { title: 'Gymnopédie No. 1', composer: 'Erik Satie', instrument: 'piano' }
  ]
}

const QUERY_INSTRUMENT = 'violin'
const WAIT_MS = 60_000

interface StartInfo { peerId: string, multiaddrs: string[], userDb: string, dashboard: string }

interface DemoPeer {
  name: string
  repo: string
  child: ChildProcess
  exited: Promise<number | null>
  stderr: string[]
  info?: StartInfo
  api?: ApiClient
  events?: AbortController
  online: Set<string>
  /** Pieces of each companion's catalog replicated here, by user db */
  replicated: Map<string, number>
}

/** Start `npp start --json` in a child process and read its first JSON line */
async function spawnPeer (name: string, root: string): Promise<DemoPeer> {
  const repo = join(root, name)
  const child = spawn(process.execPath, [BIN, 'start', '--repo', repo, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NPP_REPO: '' }
  })
  const peer: DemoPeer = {
    name,
    repo,
    child,
    stderr: [],
    online: new Set(),
    replicated: new Map(),
    exited: new Promise((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  }
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    peer.stderr.push(d)
    if (process.env.LOG != null && process.env.LOG !== '') process.stderr.write(d)
  })
  const lines = createInterface({ input: child.stdout! })
  peer.info = await new Promise<StartInfo>((resolve, reject) => {
    lines.once('line', (line) => {
      try { resolve(JSON.parse(line) as StartInfo) } catch (err) { reject(err) }
    })
    void peer.exited.then((code) => { reject(new DemoFailedError(`${name}'s peer exited with code ${code} before it started: ${peer.stderr.join('').trim().split('\n').pop() ?? ''} (run with LOG="npp:*" to see its output)`)) })
  })
  peer.api = await ApiClient.forRepo(repo)
  return peer
}

/** Follow a peer's bus events; resolves once the stream is open (its `hello` arrived) */
async function follow (peer: DemoPeer, onEvent: () => void): Promise<void> {
  peer.events = new AbortController()
  let opened!: () => void
  const open = new Promise<void>((resolve) => { opened = resolve })
  void (async () => {
    try {
      for await (const { event, data } of peer.api!.events({ signal: peer.events!.signal })) {
        if (event === 'hello') opened()
        if (event !== 'bus') continue
        const { type, payload } = data as { type: string, payload: { userDb?: string, pieces?: number } }
        if (type === 'companion:online' && payload.userDb != null) peer.online.add(payload.userDb)
        if (type === 'companion:offline' && payload.userDb != null) peer.online.delete(payload.userDb)
        if (type === 'catalog:replicated' && payload.userDb != null) peer.replicated.set(payload.userDb, payload.pieces ?? 0)
        onEvent()
      }
    } catch {
      // the peer went away; the waits below time out with a reason
    } finally {
      opened()
    }
  })()
  await open
}

async function until (what: string, condition: () => boolean, changed: { wait: () => Promise<void> }): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!condition()) {
    const left = deadline - Date.now()
    if (left <= 0) throw new DemoFailedError(`the demo gave up waiting ${WAIT_MS / 1000} s for ${what}; run it again with LOG="npp:*" to see the peers' logs`)
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([changed.wait(), new Promise((resolve) => { timer = setTimeout(resolve, left) })])
    clearTimeout(timer)
  }
}

/** A promise that resolves at the next `notify()` */
function signal (): { wait: () => Promise<void>, notify: () => void } {
  let resolvers: Array<() => void> = []
  return {
    wait: async () => { await new Promise<void>((resolve) => { resolvers.push(resolve) }) },
    notify: () => { const r = resolvers; resolvers = []; for (const f of r) f() }
  }
}

function sourceName (s: QuerySource): string {
  return s.kind === 'local' ? `${s.username} (local)` : s.username
}

export async function runDemo (options: { json: boolean }): Promise<number> {
  const say = (text: string): void => { if (!options.json) console.log(text) }
  const started = performance.now()
  const ms = (): string => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s`
  const root = await mkdtemp(join(tmpdir(), 'npp-demo-'))
  const peers: DemoPeer[] = []
  let interrupted = false
  const onSignal = (): void => { interrupted = true }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let code = 0
  try {
    say(`${ms()}  starting three peers (alice, bob, carol) in separate processes on 127.0.0.1`)
    peers.push(...await Promise.all(['alice', 'bob', 'carol'].map(async (name) => await spawnPeer(name, root))))
    const [alice, bob, carol] = peers as [DemoPeer, DemoPeer, DemoPeer]
    for (const p of peers) say(`${ms()}  ${p.name.padEnd(5)} is ${p.info!.peerId} (dashboard ${p.info!.dashboard.replace(/#.*/, '')})`)

    for (const p of peers) {
      await p.api!.put('/api/profile/username', { value: p.name })
      for (const f of FIXTURES[p.name] ?? []) {
        const score = Buffer.from(`%score of "${f.title}" by ${f.composer} for ${f.instrument}\n`).toString('base64')
        await p.api!.post('/api/pieces', { ...f, score })
      }
    }
    say(`${ms()}  added fixture pieces: ${peers.map((p) => `${p.name} ${FIXTURES[p.name]?.length ?? 0}`).join(', ')}`)

    const changed = signal()
    await Promise.all(peers.map(async (p) => { await follow(p, changed.notify) }))

    // consent: nobody becomes a companion unasked. Alice invites bob and carol, bob invites carol;
    // each invite admits its user on both sides at once (as `npp invite` / `npp connect <invite>`)
    const invite = async (from: DemoPeer): Promise<string> => (await from.api!.post<{ invite: string }>('/api/invites', { ttlMs: 600_000 })).invite
    await bob.api!.post('/api/peers', { invite: await invite(alice) })
    await carol.api!.post('/api/peers', { invite: await invite(alice) })
    await carol.api!.post('/api/peers', { invite: await invite(bob) })
    say(`${ms()}  bob and carol used alice's invites, carol used bob's; discovery does the rest`)

    await until('every peer to have the other two as online companions', () => peers.every((p) => p.online.size >= 2), changed)
    say(`${ms()}  every peer has the other two as online companions`)
    // every piece of bob's and carol's catalogs has arrived at alice
    const complete = (p: DemoPeer): boolean => alice.replicated.get(p.info!.userDb) === FIXTURES[p.name]?.length
    await until('alice to have replicated the catalogs of bob and carol', () => complete(bob) && complete(carol), changed)

    say(`${ms()}  alice asks every catalog for ${QUERY_INSTRUMENT} pieces:`)
    let done: Extract<QueryEvent, { type: 'done' }> | undefined
    for await (const line of alice.api!.lines<QueryLine>('/api/query', { instrument: QUERY_INSTRUMENT, timeoutMs: 5000 })) {
      if (line.type === 'error') throw new QueryFailedError(line.error.name, line.error.message)
      if (line.type === 'batch') say(`${ms()}    ${sourceName(line.source)} answered with ${line.hits.length} piece${line.hits.length === 1 ? '' : 's'}`)
      else done = line
    }
    if (done == null) throw new DemoFailedError('the query ended without a summary; run the demo again with LOG="npp:*"')

    const companions = await Promise.all(peers.map(async (p) => {
      const { companions: list } = await p.api!.get<{ companions: Array<{ userDb: string, status: string, profile: { username: string, nodeId: string } }> }>('/api/companions')
      return { name: p.name, peerId: p.info!.peerId, userDb: p.info!.userDb, companions: list.map((c) => ({ username: c.profile.username, peerId: c.profile.nodeId, userDb: c.userDb, status: c.status })) }
    }))

    if (!options.json) {
      console.log('\nCompanions')
      console.log(table(['peer', 'companion', 'status', 'peer id'], companions.flatMap((p) => p.companions.map((c) => [p.name, c.username, c.status, short(c.peerId)]))))
      console.log(`\nQuery "${QUERY_INSTRUMENT}" from alice: ${done.summary.total} distinct pieces; ${done.summary.answered} sources answered, ${done.summary.timedOut} timed out, ${done.summary.failed} failed`)
      console.log(table(['title', 'composer', 'sources'], done.hits.map((h) => [h.title ?? '', h.composer ?? '', h.sources.map(sourceName).join(', ')])))
    }
    const result = {
      peers: companions,
      query: { from: 'alice', instrument: QUERY_INSTRUMENT, hits: done.hits, summary: done.summary, sources: done.sources }
    }
    say(`\n${ms()}  stopping the peers`)
    await stopAll(peers)
    if (options.json) console.log(JSON.stringify(result))
    else console.log(`${ms()}  done: every peer stopped cleanly, temporary repos removed`)
  } catch (err) {
    code = reportError(interrupted ? new DemoFailedError('interrupted: the peers were stopped and their temporary repos removed') : err)
    for (const p of peers) {
      const tail = p.stderr.join('').trim().split('\n').slice(-3).join('\n')
      if (tail !== '' && code !== 0) console.error(`--- ${p.name}'s last output:\n${tail}`)
    }
  } finally {
    await stopAll(peers).catch(() => {})
    await rm(root, { recursive: true, force: true })
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return code
}

async function stopAll (peers: DemoPeer[]): Promise<void> {
  await Promise.all(peers.map(async (p) => {
    p.events?.abort()
    if (p.child.exitCode != null || p.child.signalCode != null) return
    try {
      await p.api?.post('/api/stop')
    } catch {
      p.child.kill('SIGTERM')
    }
    const timer = setTimeout(() => { p.child.kill('SIGKILL') }, 20_000)
    await p.exited
    clearTimeout(timer)
  }))
}
