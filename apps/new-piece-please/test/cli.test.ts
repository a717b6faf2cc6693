import { access, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PEER_RUNTIME } from '../src/runtime.js'
import { Cleanups, exitsWithin, followBus, npp, NppPeer, tempDir } from './helpers.js'

// Two peers, each `npp start` in its own OS process, and every command run as
// `npp ...` in another process against them.
let alice: NppPeer
let bob: NppPeer
const cleanups = new Cleanups()

beforeAll(async () => {
  const [a, b] = await Promise.all([tempDir(cleanups, 'app-cli-alice'), tempDir(cleanups, 'app-cli-bob')])
  ;[alice, bob] = await Promise.all([NppPeer.start(a), NppPeer.start(b)])
  cleanups.add(async () => { await Promise.allSettled([alice?.kill(), bob?.kill()]) })
})

afterAll(async () => { await cleanups.run() })

/** One line on stderr, `npp: ...`, and no stack trace */
function expectOneLineError (stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^npp: /)
  expect(lines[0]).toMatch(pattern)
  expect(stderr).not.toMatch(/\n\s+at /)
}

describe('npp start', () => {
  it('prints the peer id, multiaddrs, user db and dashboard URL as one JSON object, and a 0600 token', async () => {
    expect(alice.info.peerId).toMatch(/^12D3KooW/)
    expect(alice.info.multiaddrs.every((m) => m.startsWith('/ip4/127.0.0.1/') && m.endsWith(`/p2p/${alice.info.peerId}`))).toBe(true)
    expect(alice.info.userDb).toMatch(/^\/orbitdb\/zdpu/)
    expect(alice.info.dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{43}$/)
    expect((await stat(join(alice.repo, 'api.token'))).mode & 0o777).toBe(0o600)
  })

  it('runs the peer under the peer runtime (Node flags, malloc tunables), in the process it was started as', async () => {
    // the pid `npp start` reports is the process we spawned: execve kept it
    expect(alice.info.pid).toBe(alice.process.child.pid)
    const args = (await readFile(`/proc/${alice.info.pid}/cmdline`, 'utf8')).split('\0')
    for (const flag of PEER_RUNTIME.nodeFlags) expect(args).toContain(flag)
    const env = Object.fromEntries((await readFile(`/proc/${alice.info.pid}/environ`, 'utf8')).split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
    expect(env).toMatchObject({ ...PEER_RUNTIME.env, NPP_PEER_RUNTIME: 'on' })
  })

  it('refuses a second peer on the same repo (exit 1) and a dashboard on another interface (exit 2)', async () => {
    const again = await npp(['start', '--repo', alice.repo])
    expect(again.code).toBe(1)
    expectOneLineError(again.stderr, /already running/)
    const dir = await tempDir(cleanups, 'app-cli-web')
    const web = await npp(['start', '--repo', dir, '--web', '0.0.0.0:8080'])
    expect(web.code).toBe(2)
    expectOneLineError(web.stderr, /127\.0\.0\.1/)
    const badListen = await npp(['start', '--repo', dir, '--listen', 'tcp/4001'])
    expect(badListen.code).toBe(2)
    expectOneLineError(badListen.stderr, /not a valid multiaddr/)
  })
})

describe('commands against a running peer', () => {
  it('id, with --json and without', async () => {
    const text = await npp(['id', '--repo', alice.repo])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(alice.info.peerId)
    expect(text.stdout).toContain(alice.info.userDb)
    const json = await npp(['id', '--repo', alice.repo, '--json'])
    expect(JSON.parse(json.stdout)).toMatchObject({ peerId: alice.info.peerId, userDb: alice.info.userDb, multiaddrs: alice.info.multiaddrs })
  })

  it('profile get, set and rm', async () => {
    expect((await npp(['profile', 'set', 'username', 'alice', '--repo', alice.repo])).code).toBe(0)
    expect((await npp(['profile', 'set', 'city', 'Vienna', '--repo', alice.repo])).code).toBe(0)
    expect((await npp(['profile', 'get', 'city', '--repo', alice.repo])).stdout.trim()).toBe('Vienna')
    const all = JSON.parse((await npp(['profile', 'get', '--repo', alice.repo, '--json'])).stdout) as { profile: Record<string, unknown> }
    expect(all.profile).toMatchObject({ username: 'alice', city: 'Vienna', nodeId: alice.info.peerId })
    expect((await npp(['profile', 'rm', 'city', '--repo', alice.repo])).code).toBe(0)
    const gone = await npp(['profile', 'get', 'city', '--repo', alice.repo])
    expect(gone.code).toBe(1)
    expectOneLineError(gone.stderr, /no field "city"/)
    const protectedField = await npp(['profile', 'set', 'nodeId', 'me', '--repo', alice.repo])
    expect(protectedField.code).toBe(2)
  })

  it('pieces add, list, get, practise, random and rm', async () => {
    const dir = await tempDir(cleanups, 'app-cli-score')
    const file = join(dir, 'partita.pdf')
    await writeFile(file, '%PDF stand-in: Partita No. 2')
    const added = await npp(['pieces', 'add', '--repo', alice.repo, '--json', '--instrument', 'violin', '--title', 'Partita No. 2', '--composer', 'Bach', '--file', file])
    expect(added.code).toBe(0)
    const { piece } = JSON.parse(added.stdout) as { piece: { hash: string } }
    const viaHash = await npp(['pieces', 'add', '--repo', alice.repo, '--instrument', 'piano', '--title', 'Clair de lune', '--hash', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'])
    expect(viaHash.code).toBe(0)

    const list = await npp(['pieces', 'list', '--repo', alice.repo])
    expect(list.stdout).toContain('Partita No. 2')
    expect(list.stdout).toContain('Clair de lune')
    const violins = JSON.parse((await npp(['pieces', 'list', '--instrument', 'VIOLIN', '--repo', alice.repo, '--json'])).stdout) as { pieces: unknown[] }
    expect(violins.pieces).toHaveLength(1)

    expect(JSON.parse((await npp(['practise', piece.hash, '--repo', alice.repo, '--json'])).stdout)).toEqual({ hash: piece.hash, practised: 1 })
    expect((await npp(['practice', piece.hash, '--repo', alice.repo])).stdout.trim()).toBe('practised 2 times')
    const got = await npp(['pieces', 'get', piece.hash, '--repo', alice.repo])
    expect(got.stdout).toMatch(/Partita No\. 2 — Bach[\s\S]*practised\s+2 times/)

    const random = JSON.parse((await npp(['random', '--instrument', 'violin', '--repo', alice.repo, '--json'])).stdout) as { piece: { hash: string } }
    expect(random.piece.hash).toBe(piece.hash)
    const none = await npp(['random', '--instrument', 'tuba', '--repo', alice.repo])
    expect(none.code).toBe(1)
    expectOneLineError(none.stderr, /no tuba piece/)

    const rm = await npp(['pieces', 'rm', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', '--repo', alice.repo])
    expect(rm.code).toBe(0)
    const missing = await npp(['pieces', 'get', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', '--repo', alice.repo])
    expect(missing.code).toBe(1)
    expectOneLineError(missing.stderr, /no piece/)
  })

  it('connect, peers, companions and a distributed query with results from both catalogs', async () => {
    const dir = await tempDir(cleanups, 'app-cli-bob-score')
    const file = join(dir, 'csardas.pdf')
    await writeFile(file, '%PDF stand-in: Csárdás')
    expect((await npp(['profile', 'set', 'username', 'bob', '--repo', bob.repo])).code).toBe(0)
    expect((await npp(['pieces', 'add', '--repo', bob.repo, '--instrument', 'violin', '--title', 'Csárdás', '--file', file])).code).toBe(0)

    const bus = await followBus(alice.api)
    const bobsBus = await followBus(bob.api)
    try {
      const asked = bobsBus.waitFor('companion:pending', (p) => p.peerId === alice.info.peerId)
      const connected = await npp(['connect', bob.info.multiaddrs[0]!, '--repo', alice.repo, '--json'])
      expect(connected.code).toBe(0)
      expect(JSON.parse(connected.stdout)).toEqual({ peerId: bob.info.peerId })
      // alice dialled bob, so she consents; discovery and companions do the rest by themselves
      await bus.waitFor('companion:online', (p) => p.peerId === bob.info.peerId)
      // bob's piece has arrived in alice's replica of his catalog
      await bus.waitFor('catalog:replicated', (p) => p.peerId === bob.info.peerId && p.pieces === 1)
      // bob was asked by nobody: alice waits for his decision
      await asked
      const pending = JSON.parse((await npp(['companions', 'pending', '--repo', bob.repo, '--json'])).stdout) as { pending: Array<{ peerId: string }> }
      expect(pending.pending.map((p) => p.peerId)).toEqual([alice.info.peerId])
      const online = bobsBus.waitFor('companion:online', (p) => p.peerId === alice.info.peerId)
      expect((await npp(['companions', 'accept', alice.info.peerId, '--repo', bob.repo])).code).toBe(0)
      await online
      expect((await npp(['companions', 'accept', alice.info.peerId, '--repo', bob.repo])).code).not.toBe(0)
    } finally {
      bus.close()
      bobsBus.close()
    }

    // an invite: one line, revocable
    const created = JSON.parse((await npp(['invite', '--ttl', '5', '--repo', alice.repo, '--json'])).stdout) as { invite: string, id: string }
    expect(created.invite).toMatch(/^npp-invite:[A-Za-z0-9_-]+$/)
    expect((await npp(['invite', 'revoke', created.id, '--repo', alice.repo])).stdout).toContain(`revoked ${created.id}`)
    expect((await npp(['connect', 'npp-invite:garbage', '--repo', bob.repo])).code).not.toBe(0)

    const peers = await npp(['peers', '--repo', alice.repo])
    expect(peers.stdout).toContain(bob.info.peerId)
    const companions = JSON.parse((await npp(['companions', '--repo', alice.repo, '--json'])).stdout) as { companions: Array<{ userDb: string, status: string, profile: { username: string } }> }
    expect(companions.companions).toEqual([expect.objectContaining({ userDb: bob.info.userDb, status: 'online', profile: expect.objectContaining({ username: 'bob' }) })])
    expect((await npp(['companions', '--repo', alice.repo])).stdout).toMatch(/bob\s+online/)

    const query = await npp(['query', '--instrument', 'violin', '--timeout', '5000', '--repo', alice.repo])
    expect(query.code).toBe(0)
    expect(query.stdout).toMatch(/^local \(alice\): 1 piece\n {2}Partita No\. 2 — Bach \[violin\]/m)
    expect(query.stdout).toMatch(/^bob \(12D3KooW…\w{6}\): 1 piece\n {2}Csárdás \[violin\]/m)
    expect(query.stdout).toMatch(/2 distinct pieces from 2 sources \(0 timed out, 0 failed\)/)

    const json = await npp(['query', '--instrument', 'violin', '--text', 'csár', '--repo', alice.repo, '--json'])
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string, hits: Array<{ title: string, sources: Array<{ username: string }> }>, summary?: { total: number } })
    expect(lines.at(-1)?.type).toBe('done')
    expect(lines.at(-1)?.summary?.total).toBe(1)
    expect(lines.at(-1)?.hits[0]).toMatchObject({ title: 'Csárdás', sources: [expect.objectContaining({ username: 'bob' })] })
    expect(lines.filter((l) => l.type === 'batch').length).toBeGreaterThanOrEqual(1)
  })

  it('machines prints a stateDiagram-v2 for each package machine, without a running peer', async () => {
    const mermaid = await npp(['machines', '--format', 'mermaid'])
    expect(mermaid.code).toBe(0)
    for (const id of ['npp', 'transport', 'catalog', 'discovery', 'companions']) expect(mermaid.stdout).toMatch(new RegExp(`^%% \\S+: ${id}\\nstateDiagram-v2$`, 'm'))
    const json = JSON.parse((await npp(['machines', '--format', 'json'])).stdout) as { machines: Array<{ id: string, graph: { root: { children: unknown[] } } }> }
    expect(json.machines.find((m) => m.id === 'transport')?.graph.root.children.length).toBe(5)
  })
})

describe('errors and exit codes', () => {
  it('bad input: one line, exit 2, checked before looking for a peer', async () => {
    const badMa = await npp(['connect', '/ip4/999.1.1.1/tcp/x', '--repo', alice.repo])
    expect(badMa.code).toBe(2)
    expectOneLineError(badMa.stderr, /not a valid multiaddr/)
    const badCid = await npp(['pieces', 'get', 'not-a-cid', '--repo', '/nonexistent/repo'])
    expect(badCid.code).toBe(2)
    expectOneLineError(badCid.stderr, /not-a-cid: not a valid CID/)
    const badAdd = await npp(['pieces', 'add', '--instrument', 'violin', '--repo', alice.repo])
    expect(badAdd.code).toBe(2)
    expectOneLineError(badAdd.stderr, /exactly one of --hash/)
    // --file: a regular file, its size checked before it is read (never a device)
    const device = await npp(['pieces', 'add', '--instrument', 'violin', '--title', 'zero', '--file', '/dev/zero', '--repo', alice.repo])
    expect(device.code).toBe(2)
    expectOneLineError(device.stderr, /not a regular file/)
    const unknown = await npp(['pieces', 'list', '--colour', 'red', '--repo', alice.repo])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown option '--colour'/)
    // the catalog's limits (64 characters for an instrument), checked before looking for a peer
    const longInstrument = await npp(['pieces', 'add', '--instrument', 'x'.repeat(65), '--hash', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', '--repo', '/nonexistent/repo'])
    expect(longInstrument.code).toBe(2)
    expectOneLineError(longInstrument.stderr, /--instrument: .*64/)
    const longTimeout = await npp(['query', '--timeout', '600001', '--repo', '/nonexistent/repo'])
    expect(longTimeout.code).toBe(2)
    expectOneLineError(longTimeout.stderr, /timeoutMs: .*600000/)
    const missingArg = await npp(['connect', '--repo', alice.repo])
    expect(missingArg.code).toBe(2)
    const dialSelf = await npp(['connect', alice.info.multiaddrs[0]!, '--repo', alice.repo])
    expect(dialSelf.code).toBe(2)
    expectOneLineError(dialSelf.stderr, /self|own/i)
  })

  it('no running peer in the repo: exit 3 with what to do', async () => {
    const dir = await tempDir(cleanups, 'app-cli-empty')
    // a query timeout the catalog accepts (up to 600 s) passes the CLI's check
    for (const args of [['id'], ['peers'], ['pieces', 'list'], ['query', '--instrument', 'violin'], ['query', '--timeout', '300000']]) {
      const res = await npp([...args, '--repo', dir])
      expect(res.code, args.join(' ')).toBe(3)
      expectOneLineError(res.stderr, new RegExp(`no running peer in ${dir}: start one with \`npp start --repo ${dir}\``))
    }
  })

  it('--help on every command exits 0', async () => {
    for (const args of [[], ['start'], ['pieces', 'add'], ['query'], ['machines'], ['profile', 'set'], ['demo']]) {
      const res = await npp([...args, '--help'])
      expect(res.code, args.join(' ')).toBe(0)
      expect(res.stdout).toMatch(/^Usage: npp/)
    }
  })
})

describe('npp stop', () => {
  it('stops the peer cleanly and removes its api.json; the process then ends by itself with 0', async () => {
    const res = await npp(['stop', '--repo', bob.repo])
    expect(res.code).toBe(0)
    expect(res.stdout).toContain(`stopped the peer (pid ${bob.info.pid})`)
    // `npp stop` itself waits for the exit; the process was not forced out
    expect(await exitsWithin(bob, 30_000)).toBe(0)
    await expect(access(join(bob.repo, 'api.json'))).rejects.toThrow()
  })

  it('Ctrl-C (SIGINT) and SIGTERM stop the peer, which then ends by itself with 0', async () => {
    // alice still has bob as an (offline, reconnecting) companion: its timers must end too
    alice.process.child.kill('SIGINT')
    expect(await exitsWithin(alice, 30_000)).toBe(0)
    await expect(access(join(alice.repo, 'api.json'))).rejects.toThrow()
    const after = await npp(['id', '--repo', alice.repo])
    expect(after.code).toBe(3)

    // again with SIGTERM, on a peer that has just started
    const carol = await NppPeer.start(await tempDir(cleanups, 'app-cli-carol'))
    cleanups.add(async () => { await carol.kill() })
    carol.process.child.kill('SIGTERM')
    expect(await exitsWithin(carol, 30_000)).toBe(0)
  })
})
