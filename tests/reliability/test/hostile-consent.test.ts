/**
 * Hostile peers against the default consent policy (`accept: 'consent'`, `maxPending` 64):
 * 1. a flood of valid fake peers: 80 libp2p identities (light nodes in this process), each
 *    announcing a valid `user` db of its own (nodeId = its peer id; the dbs written by one
 *    hostile OrbitDB whose Helia serves their blocks, each fake serving its db's heads);
 *    none may become a companion, at most 64 may wait (the oldest dropped), every
 *    announcement gets an outcome; then accepting one makes it a companion, declining
 *    another removes it (and keeps it out);
 * 2. advertised non-loopback addresses: a peer we dialled (consent) advertises only addresses
 *    beyond loopback (identify; documentation ranges), then goes offline; our redials must not dial any of them:
 *    the dial policy refuses them before a socket exists (the target reports every socket
 *    it opens), and the companion record keeps only the hosts we saw it at;
 * 3. escape sequences: the real app (`npp start`) with a pending peer whose profile (and,
 *    once accepted, a piece) carries ANSI/OSC escapes, C1 and bidi controls; `npp companions
 *    pending`, `npp companions` and `npp query`, as text and as --json, print none of them;
 * 4. one sender starving the queue: it announces as many dbs nobody has as the rate limit
 *    lets it, with the default admission limits; it gets its places and no more (the rest
 *    wait as `queue-full` retries), and a peer we consent to meanwhile is validated and
 *    admitted without ever being turned away for load;
 * 5. an oversized catalog: a companion writes past our per-replica quota; our replica stops
 *    syncing (`overQuota`, reason `over-quota`) and answers from what it holds, while a peer
 *    without that quota gets every later piece.
 * Everything runs on 127.0.0.1; the counts go to one JSON line at the end.
 */
import { Documents, KeyValue } from '@npp/transport'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, describe, expect, it } from 'vitest'
import { now } from '../src/harness.js'
import { missingAddresses } from '../src/payloads.js'
import { createHostilePeer, encodedHeads } from '../src/hostile-peer.js'
import { AppPeer, npp } from './app-peer.js'
import { Resources, about, round } from './helpers.js'
import type { HostilePeer, HostilePeerOptions } from '../src/hostile-peer.js'
import type { ChildEvent } from '../src/protocol.js'

const resources = new Resources()
const hostiles = new Set<HostilePeer>()
const report: Record<string, unknown> = { test: 'hostile-consent' }
afterAll(async () => {
  console.log(JSON.stringify(report))
  await stopAll()
  await resources.cleanup()
})

async function hostile (options: HostilePeerOptions = {}): Promise<HostilePeer> {
  const h = await createHostilePeer(options)
  hostiles.add(h)
  return h
}
async function stopAll (): Promise<void> {
  const all = [...hostiles]
  hostiles.clear()
  await Promise.all(all.map(async (h) => { await h.stop().catch(() => {}) }))
}

const announcement = (userDb: string): Uint8Array => new TextEncoder().encode(JSON.stringify({ type: 'npp/announce', v: 1, userDb }))

/** Announce a db on `receiver`'s topic; fails if the message reached nobody (also after the stream to it opened) */
async function announce (h: HostilePeer, receiver: string, userDb: string): Promise<void> {
  await h.waitSubscribed(receiver)
  if (await h.publish(receiver, announcement(userDb)) > 0) return
  await h.waitOutbound(receiver)
  const recipients = await h.publish(receiver, announcement(userDb))
  if (recipients === 0) throw new Error(`${h.peerId}'s announcement reached nobody`)
}

/** A hostile peer's own catalog: a valid profile (nodeId = its peer id) and its pieces db */
async function catalogOf (h: HostilePeer, username: string, pieces: Array<Record<string, unknown>> = []): Promise<{ userDb: string, piecesDb: string }> {
  const odb = await h.orbitdb()
  const piecesDb = await odb.open('pieces', { Database: Documents({ indexBy: 'hash' }), type: 'documents' })
  for (const piece of pieces) await piecesDb.put(piece as { hash: string })
  const user = await odb.open('user', { Database: KeyValue(), type: 'keyvalue' })
  await user.put('username', username)
  await user.put('pieces', piecesDb.address)
  await user.put('nodeId', h.peerId)
  return { userDb: user.address, piecesDb: piecesDb.address }
}

const countBy = (values: string[]): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const v of values) out[v] = (out[v] ?? 0) + 1
  return out
}

/** Poll a state of the target (bounded), for facts it reports no event for */
async function until<T> (read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (ok(value)) return value
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(value).slice(0, 500)})`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost'])
const sockets = (events: ChildEvent[]): Record<string, number> =>
  countBy(events.filter((e) => e.event === 'socket:connect').map((e) => String(e.host)))

interface Pending { peerId: string, userDb: string, profile: { username: string } }
interface Companion { userDb: string, status: string, profile: { nodeId: string }, multiaddrs: string[], hosts: string[] }
interface Replica { peerId: string, state: string, size: number, entries: number, bytes: number, invalid: number }

describe('hostile peers against the default consent policy', () => {
  it('a flood of 80 valid fake peers: none admitted, at most 64 pending (oldest dropped), every announcement has an outcome; accept and decline work', async () => {
    const FAKES = 80
    const MAX_PENDING = 64
    const outcome = new Map<string, string>()
    const pendingOrder: string[] = []
    const droppedOrder: string[] = []
    const pendingNow = new Set<string>()
    // the largest size of the target's pending list, as the child reads it after each step
    // that added a pending peer (a count rebuilt from events here went wrong under load)
    let maxPending = 0
    // the last events, to say what came before the list grew too long
    const trail: string[] = []
    let overflow: string[] | undefined
    const retries: string[] = []
    const fakeIds = new Set<string>()
    const admitted: string[] = []
    const target = await resources.start({
      name: 'consent-target',
      repo: await resources.repo('consent-target'),
      // the default consent policy and limits; no liveness pings: 80 peers in this test's busy
      // process could miss them, which is not what this test is about
      options: { discovery: { accept: 'consent' }, connectionMonitor: false, watchDials: true },
      onEvent: (e) => {
        const id = String(e.peerId ?? e.from ?? (e.profile as { nodeId?: string } | undefined)?.nodeId)
        trail.push(`${String(e.event)} ${id.slice(-6)} ${String(e.reason ?? '')}`)
        if (trail.length > 8) trail.shift()
        if (e.event === 'pending:size') {
          maxPending = Math.max(maxPending, Number(e.size))
          if (maxPending > MAX_PENDING && overflow == null) overflow = [...trail]
          return
        }
        if (!fakeIds.has(id)) return
        if (e.event === 'companion:pending') {
          outcome.set(id, 'pending')
          if (!pendingNow.has(id)) pendingOrder.push(id)
          pendingNow.add(id)
        } else if (e.event === 'companion:declined' && e.reason === 'dropped') {
          pendingNow.delete(id)
          droppedOrder.push(id)
        } else if (e.event === 'discovery:rejected' && !outcome.has(id)) {
          outcome.set(id, `rejected:${String(e.reason)}`)
        } else if (e.event === 'discovery:retrying') {
          retries.push(String(e.reason))
        } else if (e.event === 'companion:discovered') {
          admitted.push(id)
        }
      }
    })

    // one attacker: an OrbitDB that writes every fake's catalog and serves the blocks
    const startedAt = now()
    const owner = await hostile()
    await owner.connect(target.address)
    const odb = await owner.orbitdb()
    const fakes: Array<{ peer: HostilePeer, userDb: string }> = []
    for (let i = 0; i < FAKES; i++) {
      const peer = await hostile({ light: true })
      fakeIds.add(peer.peerId)
      const pieces = await odb.open(`fake-pieces-${i}`, { Database: Documents({ indexBy: 'hash' }), type: 'documents' })
      const user = await odb.open(`fake-user-${i}`, { Database: KeyValue(), type: 'keyvalue' })
      await user.put('username', `fake-${i}`)
      await user.put('pieces', pieces.address)
      await user.put('nodeId', peer.peerId)
      // the fake answers the head exchange for its db itself: discovery replicates from the announcer
      await peer.serveHeads(user.address, await encodedHeads(user))
      peer.subscribe(peer.peerId)
      fakes.push({ peer, userDb: user.address })
    }
    const createdAt = now()
    for (const { peer } of fakes) await peer.connect(target.address)
    const connectedAt = now()

    // the flood: every fake announces at once
    await Promise.all(fakes.map(async ({ peer, userDb }) => { await announce(peer, target.peerId, userDb) }))
    const announcedAt = now()
    await target.waitFor(() => outcome.size === FAKES, { timeoutMs: 200_000, what: 'an outcome of every fake peer\'s announcement' }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; so far ${JSON.stringify(countBy([...outcome.values()]))} of ${FAKES}, retries ${JSON.stringify(countBy(retries))}`)
    })
    const settledAt = now()

    // nobody was admitted by announcing itself
    expect(admitted, 'a fake peer became a companion without consent').toEqual([])
    expect((await target.request<{ companions: Companion[] }>({ cmd: 'companions' })).companions).toEqual([])
    // the pending list: never more than 64, the oldest dropped, the rest waiting in order
    const outcomes = countBy([...outcome.values()])
    const pendingCount = outcomes.pending ?? 0
    expect(pendingCount, `every valid fake should have waited for consent: ${JSON.stringify(outcomes)}`).toBeGreaterThan(MAX_PENDING)
    expect(maxPending, `the events before the list passed ${MAX_PENDING}: ${JSON.stringify(overflow)}`).toBeLessThanOrEqual(MAX_PENDING)
    expect(droppedOrder).toEqual(pendingOrder.slice(0, pendingCount - MAX_PENDING))
    const { pending } = await target.request<{ pending: Pending[] }>({ cmd: 'pending' })
    expect(pending.map((p) => p.peerId)).toEqual(pendingOrder.slice(pendingCount - MAX_PENDING))
    expect(pending.every((p) => p.profile.username.startsWith('fake-'))).toBe(true)

    // consent works: accepting one makes it a companion (it is connected: validated again at once)
    const accepted = pending.at(-1)!
    let mark = target.mark()
    expect(await target.request({ cmd: 'accept', target: accepted.peerId })).toEqual({ accepted: 1 })
    await target.next('companion:discovered', about(accepted.peerId), { since: mark, timeoutMs: 60_000 })
    await target.next('companion:online', about(accepted.peerId), { since: mark, timeoutMs: 60_000 })
    const companions = (await target.request<{ companions: Companion[] }>({ cmd: 'companions' })).companions
    expect(companions.map((c) => [c.profile.nodeId, c.userDb])).toEqual([[accepted.peerId, accepted.userDb]])
    // declining another removes it from the list, and it stays out when it announces again
    const declined = pending[0]!
    mark = target.mark()
    expect(await target.request({ cmd: 'decline', target: declined.peerId })).toEqual({ declined: 1 })
    await target.next('companion:declined', (e) => e.peerId === declined.peerId && e.reason === 'declined', { since: mark })
    const after = (await target.request<{ pending: Pending[] }>({ cmd: 'pending' })).pending.map((p) => p.peerId)
    expect(after).toEqual(pending.slice(1, -1).map((p) => p.peerId))
    mark = target.mark()
    await announce(fakes.find((f) => f.peer.peerId === declined.peerId)!.peer, target.peerId, declined.userDb)
    const again = await target.next('discovery:rejected', (e) => e.from === declined.peerId, { since: mark })
    expect(again.reason).toBe('removed')
    expect(admitted).toEqual([accepted.peerId])
    // nothing beyond loopback was dialled meanwhile
    const opened = sockets(target.events)
    expect(Object.keys(opened).filter((h) => !LOOPBACK_HOSTS.has(h))).toEqual([])

    report.flood = {
      fakes: FAKES,
      outcomes,
      dropped_oldest: droppedOrder.length,
      max_pending: maxPending,
      pending_after_flood: pending.length,
      retries: countBy(retries),
      accepted_became_companion: true,
      declined_then_announced: again.reason,
      pending_after_consent: after.length,
      target_sockets: opened,
      timings_ms: {
        create_dbs: round(createdAt - startedAt),
        connect_all: round(connectedAt - createdAt),
        announce_all: round(announcedAt - connectedAt),
        every_outcome: round(settledAt - connectedAt)
      }
    }
    await stopAll()
    expect(await target.stop()).toBe(0)
  })

  it('a companion that advertises only addresses beyond loopback and goes offline is never dialled there: refused by the dial policy before any socket', async () => {
    // beyond loopback, as a LAN address would be; taken from the documentation ranges (RFC 5737,
    // RFC 3849) so that even a broken dial policy could not reach a real host
    const PRIVATE = ['/ip4/192.0.2.13/tcp/4001', '/ip4/198.51.100.1/tcp/4001', '/ip6/2001:db8::1/tcp/4001']
    const PRIVATE_HOSTS = ['192.0.2.13', '198.51.100.1', '2001:db8::1']
    const target = await resources.start({
      name: 'redial-target',
      repo: await resources.repo('redial-target'),
      options: { discovery: { accept: 'consent' }, backoff: { initialMs: 100, maxMs: 1_000 }, watchDials: true }
    })
    const lan = await hostile({ announce: PRIVATE })
    const { userDb } = await catalogOf(lan, 'lan-party')
    // we dial it ourselves: consent; it announces its catalog
    await target.request({ cmd: 'connect', addr: lan.listenAddress })
    await announce(lan, target.peerId, userDb)
    await target.next('companion:online', about(lan.peerId), { since: 0, timeoutMs: 60_000 })

    // what we keep of it: its advertised addresses (it told us), but only the host we saw it at
    const readRecord = async (): Promise<Companion | undefined> =>
      (await target.request<{ companions: Companion[] }>({ cmd: 'companions' })).companions.find((c) => c.userDb === userDb)
    const record = await until(readRecord, (c) => c != null && c.hosts.length > 0 && PRIVATE.every((a) => c.multiaddrs.includes(`${a}/p2p/${lan.peerId}`)),
      'the companion record with its advertised addresses and the host we saw it at')
    expect(record!.hosts).toEqual(['127.0.0.1'])
    expect(record!.multiaddrs[0]).toBe(lan.listenAddress) // where we dialled it, first

    // it goes offline: every redial round tries the host we saw it at, then what it advertised
    const mark = target.mark()
    const denied = new Map<string, ChildEvent>()
    await lan.stop()
    hostiles.delete(lan)
    await target.next('companion:offline', about(lan.peerId), { since: mark, timeoutMs: 30_000 })
    await target.waitFor((e) => {
      if (e.event === 'dial' && e.advertised === true) {
        const address = PRIVATE.find((a) => String(e.address) === `${a}/p2p/${lan.peerId}`)
        if (address != null) denied.set(address, e)
      }
      return denied.size === PRIVATE.length
    }, { since: mark, timeoutMs: 60_000, what: 'a redial of every advertised address' })
    for (const [address, e] of denied) {
      expect({ address, ok: e.ok, error: e.error, cause: e.cause }).toEqual({ address, ok: false, error: 'PeerUnreachableError', cause: 'DialDeniedError' })
    }
    const redials = target.events.slice(mark).filter((e) => e.event === 'dial')
    const vouched = redials.filter((e) => e.address === lan.listenAddress)
    expect(vouched.length, 'the address we saw it at was not redialled').toBeGreaterThan(0)
    expect(vouched.every((e) => e.advertised === false && e.ok === false)).toBe(true)
    // the target's own account: the gater refused them (before dialling), and no socket went anywhere but loopback
    const { deniedDials } = await target.request<{ deniedDials: { count: number, recent: string[] } }>({ cmd: 'diagnostics' })
    for (const address of PRIVATE) expect(deniedDials.recent).toContain(`${address}/p2p/${lan.peerId}`)
    expect(deniedDials.count).toBeGreaterThanOrEqual(PRIVATE.length)
    const opened = sockets(target.events)
    // the watch sees sockets: ours to the peer (the dial, and the redials of where we saw it)
    expect(opened['127.0.0.1'] ?? 0).toBeGreaterThanOrEqual(1 + vouched.length)
    expect(Object.keys(opened).filter((h) => !LOOPBACK_HOSTS.has(h))).toEqual([])
    expect(PRIVATE_HOSTS.filter((h) => opened[h] != null)).toEqual([])
    // and the record still vouches only for the host we saw it at
    expect((await readRecord())!.hosts).toEqual(['127.0.0.1'])

    report.advertised = {
      advertised: PRIVATE,
      record: { hosts: record!.hosts, multiaddrs: record!.multiaddrs.length },
      redials: countBy(redials.map((e) => `${e.advertised === true ? 'advertised' : 'vouched'}:${e.ok === true ? 'ok' : String(e.cause ?? e.error)}`)),
      denied_dials: deniedDials.count,
      target_sockets: opened
    }
    expect(await target.stop()).toBe(0)
  })

  it('escape sequences in a pending peer\'s profile and its pieces never reach the terminal: npp companions pending, companions, query (text and --json)', async () => {
    // OSC (retitle), CSI (clear screen), a C1 CSI, a bidi override, DEL, and text around them
    const EVIL_NAME = 'mal\u001b]0;pwned\u0007lory\u001b[2J\u009b31m\u202eevil\u007f'
    const EVIL_TITLE = 'Cs\u001b[2Járdás\u001b]0;pwned\u0007 \u202eop. 1\u009b0m'
    // what `terminalSafe` leaves (the visible part); kept in sync with the app's
    // eslint-disable-next-line no-control-regex
    const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
    const visible = (s: string): string => s.replace(UNSAFE, '')
    const controls = (s: string): string[] => [...new Set(s.match(UNSAFE) ?? [])].map((c) => `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

    const app = await AppPeer.start(await resources.repo('app'))
    resources.defer(async () => { await app.kill() })
    const evil = await hostile()
    const hash = CID.create(1, 0x55, await sha256.digest(new TextEncoder().encode('evil score'))).toString()
    const { userDb } = await catalogOf(evil, EVIL_NAME, [{ hash, instrument: 'violin', title: EVIL_TITLE, composer: EVIL_NAME, addedAt: Date.now() }])
    // it connects to the app by itself and announces: nobody consented, so it waits
    await evil.connect(app.address)
    await announce(evil, app.info.peerId, userDb)
    await app.waitFor('companion:pending', (p) => p.peerId === evil.peerId, 'a pending entry for the hostile peer')

    const outputs: Record<string, { code: number, stdout: string, stderr: string }> = {}
    const run = async (name: string, args: string[]): Promise<string> => {
      const result = await npp([...args, '--repo', app.repo])
      outputs[name] = result
      expect({ name, code: result.code, stderr: result.stderr }).toEqual({ name, code: 0, stderr: '' })
      return result.stdout
    }
    const pendingText = await run('pending', ['companions', 'pending'])
    const pendingJson = await run('pending --json', ['companions', 'pending', '--json'])
    // accepted, its catalog replicates, and its title reaches query results
    await run('accept', ['companions', 'accept', evil.peerId])
    await app.waitFor('catalog:replicated', (p) => p.peerId === evil.peerId && p.pieces === 1, 'the hostile peer\'s piece in our replica')
    const listText = await run('companions', ['companions'])
    const listJson = await run('companions --json', ['companions', '--json'])
    const queryText = await run('query', ['query', '--instrument', 'violin'])
    const queryJson = await run('query --json', ['query', '--instrument', 'violin', '--json'])

    // the verdict: not one control or bidi character on stdout, in any of them
    const found = Object.fromEntries(Object.entries(outputs).map(([name, r]) => [name, controls(r.stdout)]))
    report.escapes = { commands: Object.keys(outputs), control_characters_on_stdout: found }
    expect(found).toEqual(Object.fromEntries(Object.keys(outputs).map((name) => [name, []])))
    // what is left is the visible text; JSON keeps the exact strings (escaped in the JSON text)
    expect(pendingText).toContain(visible(EVIL_NAME))
    expect(pendingText).toContain(evil.peerId)
    expect(listText).toContain(visible(EVIL_NAME))
    expect(queryText).toContain(visible(EVIL_TITLE))
    expect(queryText).toContain(visible(EVIL_NAME))
    expect((JSON.parse(pendingJson) as { pending: Pending[] }).pending.map((p) => p.profile.username)).toEqual([EVIL_NAME])
    expect((JSON.parse(listJson) as { companions: Array<{ profile: { username: string } }> }).companions.map((c) => c.profile.username)).toEqual([EVIL_NAME])
    const titles = queryJson.trim().split('\n').flatMap((line) => ((JSON.parse(line) as { hits?: Array<{ title?: string }> }).hits ?? []).map((h) => h.title))
    expect(titles).toContain(EVIL_TITLE)
    expect(await app.stop()).toBe(0)
  })

  it('one sender announcing dbs nobody has cannot starve the queue: it keeps to its places, and a peer we consent to is admitted meanwhile', async () => {
    const target = await resources.start({
      name: 'fair-target',
      repo: await resources.repo('fair-target'),
      // the default admission limits (2 places per sender, 4 validating, 64 waiting, 10
      // announcements per 10 s); a short manifest timeout only keeps the run short
      options: { discovery: { accept: 'consent', replicationTimeoutMs: 3_000 }, connectionMonitor: false }
    })
    const sender = await hostile()
    await sender.connect(target.address)
    const missing = missingAddresses(target.ready.userDb, 10)
    const mark = target.mark()
    for (const db of missing) await announce(sender, target.peerId, db)
    // beyond its places, the sender's announcements wait their turn (retried later), they take no one else's
    await target.next('discovery:retrying', (e) => e.from === sender.peerId && e.reason === 'queue-full', { since: mark, timeoutMs: 60_000 })

    // meanwhile we dial a peer: consent; it announces its catalog
    const dave = await resources.start({ name: 'dave', repo: await resources.repo('dave') })
    const daveMark = target.mark()
    await target.request({ cmd: 'connect', addr: dave.address })
    const found = await target.next('companion:discovered', about(dave.peerId), { since: daveMark, timeoutMs: 60_000 })
    const ended = (e: ChildEvent): boolean => e.event === 'discovery:rejected' && e.from === sender.peerId
    const senderEndedBeforeDave = target.events.slice(mark, target.events.indexOf(found)).filter(ended).length
    // dave was never turned away for load, nor for anything else
    const daveTurnedAway = target.events.slice(daveMark).filter((e) => e.from === dave.peerId && (e.event === 'discovery:retrying' || e.event === 'discovery:rejected'))
    expect(daveTurnedAway).toEqual([])

    // the sender's announcements all end, refused for what they are, none admitted
    const final = await target.waitFor(() => target.events.slice(mark).filter(ended).length >= missing.length, { since: mark, timeoutMs: 200_000, what: 'a final outcome of each of the sender\'s announcements' })
      .then(() => target.events.slice(mark).filter(ended))
    expect(final.map((e) => e.userDb).sort()).toEqual([...missing].sort())
    const retried = target.events.slice(mark).filter((e) => e.event === 'discovery:retrying' && e.from === sender.peerId)
    expect(target.events.slice(mark).filter((e) => e.event === 'companion:discovered' || e.event === 'companion:pending').map((e) => String((e.profile as { nodeId?: string } | undefined)?.nodeId ?? e.peerId))).toEqual([dave.peerId])
    const companions = (await target.request<{ companions: Companion[] }>({ cmd: 'companions' })).companions
    expect(companions.map((c) => c.profile.nodeId)).toEqual([dave.peerId])

    report.starving = {
      announcements: missing.length,
      final: countBy(final.map((e) => String(e.reason))),
      retries: countBy(retried.map((e) => String(e.reason))),
      sender_ended_before_dave_admitted: senderEndedBeforeDave,
      dave_admitted_ms: round(found.at - dave.ready.at),
      dave_turned_away: daveTurnedAway.length
    }
    expect(await dave.stop()).toBe(0)
    expect(await target.stop()).toBe(0)
  })

  it('an oversized catalog: past our quota a companion\'s replica stops syncing and answers from what it holds; a peer without that quota gets every later piece', async () => {
    const QUOTA = 30
    const FIRST = 50
    const LATER = 20
    const target = await resources.start({
      name: 'quota-target',
      repo: await resources.repo('quota-target'),
      options: { discovery: { accept: 'consent' }, catalog: { replicas: { maxEntries: QUOTA } } }
    })
    const control = await resources.start({ name: 'quota-control', repo: await resources.repo('quota-control') })
    const erin = await resources.start({ name: 'erin', repo: await resources.repo('erin') })
    await erin.request({ cmd: 'write', prefix: 'erin-first', count: FIRST })
    // both dial erin: consent
    await target.request({ cmd: 'connect', addr: erin.address })
    await control.request({ cmd: 'connect', addr: erin.address })
    const replicaOf = async (peer: typeof target): Promise<Replica | undefined> =>
      (await peer.request<{ replicas: Replica[] }>({ cmd: 'replicas' })).replicas.find((r) => r.peerId === erin.peerId)
    const over = (await until(async () => await replicaOf(target), (r) => r?.state === 'overQuota', 'our replica of erin\'s catalog over its quota', 60_000))!
    expect(over.entries).toBeGreaterThan(QUOTA)
    const overEvent = target.events.find((e) => e.event === 'catalog:replicated' && e.peerId === erin.peerId && Number(e.pieces) === over.size)

    // erin writes on: the control replicates all of it, our replica takes none of it
    await erin.request({ cmd: 'write', prefix: 'erin-later', count: LATER })
    const { hashes } = await erin.request<{ hashes: string[] }>({ cmd: 'pieces' })
    expect(hashes).toHaveLength(FIRST + LATER)
    const controlHas = await control.request<{ ok: boolean, missing: string[] }>({ cmd: 'waitReplica', peerId: erin.peerId, hashes, timeoutMs: 120_000 })
    expect(controlHas.missing).toEqual([])
    const after = await replicaOf(target)
    expect(after).toMatchObject({ state: 'overQuota', entries: over.entries, size: over.size })
    // a query answers erin's part from what we hold
    const answer = await target.request<{ status: string, hashes: string[] }>({ cmd: 'replica', peerId: erin.peerId, timeoutMs: 10_000 })
    expect(answer.status).toBe('answered')
    expect(answer.hashes).toHaveLength(over.size)
    expect(answer.hashes.every((h) => hashes.includes(h))).toBe(true)

    report.oversized = {
      quota_entries: QUOTA,
      written: FIRST + LATER,
      replica_when_over: { state: over.state, entries: over.entries, bytes: over.bytes, size: over.size },
      replica_after_more_writes: { state: after!.state, entries: after!.entries, size: after!.size },
      control_replica: hashes.length - controlHas.missing.length,
      reported_on_bus: overEvent != null
    }
    expect(await erin.stop()).toBe(0)
    expect(await control.stop()).toBe(0)
    expect(await target.stop()).toBe(0)
  })
})
