/**
 * A hostile peer, built directly on libp2p and @orbitdb/core (not on our
 * packages), against a full peer of ours in its own process (so that a crash
 * shows as an exit and its memory is its own):
 * 1. 10 000 generated messages on the target's topic, one hostile identity per
 *    category (random bytes, broken JSON, non-objects, wrong shapes, huge
 *    payloads, bogus addresses, a missing db, real-but-wrong dbs, other peers'
 *    user dbs), flow-controlled so that every message is accounted for;
 * 2. a flood of announcements as fast as one peer can publish, plus a swarm
 *    of identities each within its rate limit, plus announcements relayed by
 *    a peer the target is not connected to;
 * 3. writes into the target's pieces, user and companions dbs: forged entries
 *    (one of them the identity-claim OrbitDB 4.0.0 accepts) published on each
 *    db's topic, garbage on those topics, and `put`s through the hostile
 *    peer's own OrbitDB with an access controller that lets everyone write.
 * (Most forged entries are now rejected by the db topics' gossipsub validators,
 * counted as `topic:<reason>`, before OrbitDB sees them.)
 * Asserted: no crash, no companion from any of it, every message accounted
 * for by outcome and reason (and every outcome acceptable for its category),
 * every db write refused and counted by reason, the dbs unchanged (heads and
 * values), memory bounded, and a legitimate peer still discovered afterwards.
 */
import { Documents, IPFSAccessController, KeyValue } from '@npp/transport'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, describe, expect, it } from 'vitest'
import { now } from '../src/harness.js'
import { allowEveryWriter, createHostilePeer, restoreAccess } from '../src/hostile-peer.js'
import { CATEGORY_COUNTS, OUTCOMES, categoryMessages, missingAddresses } from '../src/payloads.js'
import { Resources, about, round } from './helpers.js'
import type { ForgeKind, HostilePeer, HostilePeerOptions } from '../src/hostile-peer.js'
import type { HostileCategory, PayloadContext } from '../src/payloads.js'
import type { ChildEvent, DbState, MemoryStats } from '../src/protocol.js'

const resources = new Resources()
const hostiles: HostilePeer[] = []
afterAll(async () => {
  restoreAccess()
  await Promise.all(hostiles.splice(0).map(async (h) => { await h.stop().catch(() => {}) }))
  await resources.cleanup()
})

const MB = 1024 * 1024
/** Memory bounds, relative to the target's own start (after a full GC) */
const HEAP_GROWTH_LIMIT = 64 * MB
const RSS_GROWTH_LIMIT = 512 * MB

/** Per hostile sender: what it sent and what became of it on the target */
class Ledger {
  readonly senders = new Map<string, { label: string, sent: number, received: number, outcomes: Map<string, number> }>()
  readonly discovered: ChildEvent[] = []
  readonly refused = new Map<string, number>()
  readonly pendingByDb = new Map<string, string>()
  readonly reasonByDb = new Map<string, Set<string>>()

  add (peerId: string, label: string): void {
    this.senders.set(peerId, { label, sent: 0, received: 0, outcomes: new Map() })
  }

  private bump (peerId: unknown, outcome: string): void {
    const s = this.senders.get(String(peerId))
    if (s == null) return
    s.outcomes.set(outcome, (s.outcomes.get(outcome) ?? 0) + 1)
  }

  /** Fed with every event of the target */
  onEvent = (e: ChildEvent): void => {
    if (e.event === 'message:rejected') this.bump(e.from, `message:${String(e.reason)}`)
    else if (e.event === 'message:received') {
      const s = this.senders.get(String(e.from))
      if (s != null) s.received++
      if (typeof e.type === 'string' && e.type !== 'npp/announce') this.bump(e.from, 'ignored:other-protocol')
    } else if (e.event === 'discovery:rejected') {
      this.bump(e.from, `discovery:${String(e.reason)}`)
      if (typeof e.userDb === 'string' && this.senders.has(String(e.from))) {
        const reasons = this.reasonByDb.get(e.userDb) ?? new Set()
        reasons.add(String(e.reason))
        this.reasonByDb.set(e.userDb, reasons)
      }
    } else if (e.event === 'companion:discovered') {
      this.discovered.push(e)
      this.bump((e.profile as { nodeId: string }).nodeId, 'companion:discovered')
    } else if (e.event === 'db:refused') {
      this.refused.set(String(e.reason), (this.refused.get(String(e.reason)) ?? 0) + 1)
    }
  }

  total (peerId: string): number {
    let n = 0
    for (const v of this.senders.get(peerId)!.outcomes.values()) n += v
    return n
  }

  /** Every message of this sender has its transport outcome (rejected or received) */
  delivered (peerId: string): boolean {
    const s = this.senders.get(peerId)!
    let rejected = 0
    for (const [k, v] of s.outcomes) if (k.startsWith('message:')) rejected += v
    return rejected + s.received >= s.sent
  }

  /** Every message of every sender has its final outcome */
  settled (): boolean {
    for (const [id, s] of this.senders) if (this.total(id) < s.sent) return false
    return true
  }

  byLabel (): Record<string, { sent: number, outcomes: Record<string, number> }> {
    const out: Record<string, { sent: number, outcomes: Record<string, number> }> = {}
    for (const s of this.senders.values()) {
      const entry = out[s.label] ?? { sent: 0, outcomes: {} }
      entry.sent += s.sent
      for (const [k, v] of s.outcomes) entry.outcomes[k] = (entry.outcomes[k] ?? 0) + v
      out[s.label] = entry
    }
    return out
  }
}

describe('a hostile peer against a peer in its own process', () => {
  it('survives 10 000 hostile messages, a flood and write attempts: no crash, no companion, everything counted, dbs unchanged, memory bounded', async () => {
    const ledger = new Ledger()
    const target = await resources.start({
      name: 'target',
      repo: await resources.repo('target'),
      nodeFlags: ['--expose-gc'],
      // retries of what failed for load or time stay short here, so that every message's final outcome comes soon;
      // no liveness pings: a hostile peer busy publishing (in this test's process) could miss them and be
      // disconnected mid-flood, which is not what this suite is about (tests/reliability's netns test is)
      // a sender's 10 pool dbs may all wait at once (default 2 per sender), so that each gets its own verdict
      options: { discovery: { replicationTimeoutMs: 5_000, maxQueued: 8, maxPerSender: 10, validationRetry: { attempts: 3, initialMs: 200, maxMs: 1_000 } }, connectionMonitor: false, watchDbs: true, statsEveryMs: 250 },
      onEvent: (e) => { ledger.onEvent(e) }
    })
    // a legitimate companion, known before the attack
    const carol = await resources.start({ name: 'carol', repo: await resources.repo('carol') })
    await carol.request({ cmd: 'connect', addr: target.address })
    await target.next('companion:online', about(carol.peerId), { since: 0 })
    await carol.next('companion:online', about(target.peerId), { since: 0 })
    const start = await target.request<MemoryStats>({ cmd: 'stats', gc: true })
    const before = await target.request<Record<string, DbState>>({ cmd: 'dbState' })
    const companionsBefore = await target.request<{ companions: Array<{ userDb: string }> }>({ cmd: 'companions' })
    const startedAt = now()

    const hostile = async (label: string, connect = true, options: HostilePeerOptions = {}): Promise<HostilePeer> => {
      const h = await createHostilePeer(options)
      hostiles.push(h)
      ledger.add(h.peerId, label)
      if (connect) {
        await h.connect(target.address)
        await h.waitSubscribed(target.peerId)
        rejoins.set(h.peerId, async (topic) => {
          await h.libp2p.hangUp(peerIdFromString(target.peerId))
          await h.connect(target.address)
          await h.waitSubscribed(topic, target.peerId)
          await h.waitOutbound(target.peerId)
        })
      }
      return h
    }
    /**
     * A hostile peer's gossipsub can lose its outbound stream while the connection stays open
     * (gossipsub keeps a closed stream as the peer's stream and opens a new one only on a new
     * connection; libp2p/js-libp2p#3531 left that case as a follow-up). Like any client, the
     * hostile peer then reconnects; it is counted and bounded, never silent.
     */
    const rejoins = new Map<string, (topic: string) => Promise<void>>()
    const reconnects: Record<string, number> = {}
    let reconnectCount = 0
    const MAX_RECONNECTS = 5
    /** Publish on a topic the target listens to; resolves with the number of peers it went to */
    const publish = async (h: HostilePeer, topic: string, bytes: Uint8Array): Promise<number> => {
      const recipients = await h.publish(topic, bytes)
      const rejoin = rejoins.get(h.peerId)
      if (recipients > 0 || rejoin == null || reconnectCount >= MAX_RECONNECTS) return recipients
      reconnectCount++
      const label = ledger.senders.get(h.peerId)!.label
      reconnects[label] = (reconnects[label] ?? 0) + 1
      await rejoin(topic)
      return await h.publish(topic, bytes)
    }
    /** Publish and count; flow control: at most `window` messages (or 2 MiB) ahead of the target's accounting */
    const send = async (h: HostilePeer, bytes: Uint8Array, window = 250): Promise<void> => {
      const s = ledger.senders.get(h.peerId)!
      const recipients = await publish(h, target.peerId, bytes)
      if (recipients === 0) {
        const conns = h.libp2p.getConnections().map((c) => `${c.remotePeer.toString().slice(-6)} ${c.status}`)
        const subs = h.libp2p.services.pubsub.getSubscribers(target.peerId).map(String)
        throw new Error(`${s.label}'s message #${s.sent + 1} (${bytes.byteLength} bytes) reached nobody: connections ${JSON.stringify(conns)}, subscribers ${JSON.stringify(subs)}`)
      }
      s.sent++
      pending += bytes.byteLength
      if (s.sent % window === 0 || pending > 2 * MB) {
        pending = 0
        if (!ledger.delivered(h.peerId)) await target.waitFor(() => ledger.delivered(h.peerId), { timeoutMs: 60_000, what: `delivery of ${s.label}'s messages` })
      }
    }
    let pending = 0
    const settle = async (what: string, timeoutMs = 60_000): Promise<void> => {
      if (ledger.settled()) return
      try {
        await target.waitFor(() => ledger.settled(), { timeoutMs, what })
      } catch (err) {
        throw new Error(`${(err as Error).message}; so far: ${JSON.stringify(ledger.byLabel())}`)
      }
    }

    // --- real dbs of the hostile peer, each wrong as a user db in its own way --------------------
    const mallory = await hostile('real-but-wrong-db')
    const odb = await mallory.orbitdb()
    const kv = async (name: string, fields: Record<string, unknown>, write?: string[]): Promise<string> => {
      const db = await odb.open(name, { Database: KeyValue(), type: 'keyvalue', ...(write == null ? {} : { AccessController: IPFSAccessController({ write }) }) })
      for (const [k, v] of Object.entries(fields)) await db.put(k, v)
      return db.address
    }
    const docs = (await odb.open('not-a-user-db', { Database: Documents({ indexBy: 'hash' }), type: 'documents' })).address
    const [missing, missingPieces] = missingAddresses(docs, 2) as [string, string]
    const noPieces = await kv('no-pieces', { username: 'mallory', nodeId: mallory.peerId })
    const expected: Record<string, string> = {
      [docs]: 'wrong-type',
      [noPieces]: 'no-pieces',
      [await kv('bad-profile', { username: '', pieces: docs, nodeId: mallory.peerId })]: 'invalid-profile',
      [await kv('kv-pieces', { username: 'mallory', pieces: noPieces, nodeId: mallory.peerId })]: 'pieces-wrong-type',
      [await kv('anyone-writes', { username: 'mallory', pieces: docs, nodeId: mallory.peerId }, ['*'])]: 'bad-access',
      // a valid profile of mallory's that names carol's catalog as its own
      [await kv('foreign-pieces', { username: 'mallory', pieces: carol.ready.pieces, nodeId: mallory.peerId })]: 'pieces-not-owned',
      [await kv('missing-pieces', { username: 'mallory', pieces: missingPieces, nodeId: mallory.peerId })]: 'pieces-not-found',
      [await kv('claims-carol', { username: 'carol', pieces: carol.ready.pieces, nodeId: carol.peerId })]: 'node-id-mismatch',
      [target.ready.userDb]: 'own-db',
      [target.ready.companionsDb]: 'own-db'
    }
    // other peers' user dbs: carol's own, and two of the sender's that claim carol's and the target's node ids
    const impostor = await hostile('other-node-id')
    const impostorDb = await impostor.orbitdb()
    const claim = async (name: string, fields: Record<string, unknown>): Promise<string> => {
      const db = await impostorDb.open(name, { Database: KeyValue(), type: 'keyvalue' })
      for (const [k, v] of Object.entries(fields)) await db.put(k, v)
      return db.address
    }
    const ctx: PayloadContext = {
      realButWrong: Object.keys(expected),
      otherUserDbs: [
        carol.ready.userDb,
        await claim('claims-target', { username: 'target', pieces: target.ready.pieces, nodeId: target.peerId }),
        await claim('claims-carol', { username: 'carol', pieces: carol.ready.pieces, nodeId: carol.peerId })
      ],
      missingDb: missing
    }

    // --- 1. 10 000 generated messages, one identity per category -------------------------------
    const categories = Object.keys(CATEGORY_COUNTS) as HostileCategory[]
    const senders = new Map<HostileCategory, HostilePeer>([['real-but-wrong-db', mallory], ['other-node-id', impostor]])
    for (const category of categories) if (!senders.has(category)) senders.set(category, await hostile(category))
    let seed = 1
    for (const category of categories) {
      const h = senders.get(category)!
      const messages = [...categoryMessages(category, CATEGORY_COUNTS[category], ctx, seed++)]
      // the first ten (the rate limit's window, each pool db once) are judged while the sender
      // is quiet and can serve its dbs; then the rest, as fast as the target accounts for them
      for (const { bytes } of messages.slice(0, 10)) await send(h, bytes)
      await settle(`every outcome of the first ${category} messages`)
      for (const { bytes } of messages.slice(10)) await send(h, bytes)
      await settle(`every outcome of ${category}`)
    }
    const generatedAt = now()

    // --- 2. a flood as fast as one peer can publish, a swarm within its limits, relayed announcements
    const flooder = await hostile('flood')
    const swarm = await Promise.all(Array.from({ length: 6 }, async () => await hostile('swarm')))
    const addresses = missingAddresses(noPieces, 2_000 + swarm.length * 10)
    const announce = (userDb: string): Uint8Array => new TextEncoder().encode(JSON.stringify({ type: 'npp/announce', v: 1, userDb }))
    const floodStart = now()
    await Promise.all([
      (async () => { for (const a of addresses.slice(0, 2_000)) await send(flooder, announce(a), 2_000) })(),
      ...swarm.map(async (h, i) => { for (const a of addresses.slice(2_000 + i * 10, 2_010 + i * 10)) await send(h, announce(a), 2_000) })
    ])
    const floodMs = now() - floodStart
    // the relay forwards what it gets on the target's topic to the target (a gossipsub direct peer)
    const relay = await hostile('relay', true, { directPeers: [target.address] })
    relay.subscribe(target.peerId)
    const far = await hostile('relayed', false)
    await far.connect(relay.libp2p.getMultiaddrs()[0]!.toString())
    await far.waitSubscribed(target.peerId, relay.peerId)
    rejoins.set(far.peerId, async (topic) => {
      await far.libp2p.hangUp(relay.libp2p.peerId)
      await far.connect(relay.libp2p.getMultiaddrs()[0]!.toString())
      await far.waitSubscribed(topic, relay.peerId)
      await far.waitOutbound(relay.peerId)
    })
    for (const a of addresses.slice(0, 20)) await send(far, announce(a))
    await settle('every outcome of the flood, the swarm and the relayed announcements', 90_000)
    const floodedAt = now()

    // --- 3. writes into our pieces, user and companions dbs ------------------------------------
    const forger = await hostile('forger')
    const dbs = { pieces: before.pieces!.address, user: before.user!.address, companions: before.companions!.address }
    // refused by our gossipsub validator on the db's topic before OrbitDB sees it (`topic:*`), except
    // what only a signature check can tell (the owner's identity and key with a signature of ours)
    const kinds: Array<[ForgeKind | 'garbage', number, string]> = [
      ['claimed-identity', 10, 'topic:key-mismatch'],
      ['own-identity', 5, 'topic:not-a-writer'],
      ['wrong-log', 5, 'topic:wrong-log'],
      ['bad-signature', 5, 'bad-signature'],
      ['garbage', 5, 'topic:undecodable']
    ]
    const expectedRefusals: Record<string, number> = {}
    let seq = 0
    for (const [name, address] of Object.entries(dbs)) {
      await forger.waitSubscribed(address, target.peerId)
      const forgeTarget = { logId: address, identityHash: target.ready.identity.hash, publicKey: target.ready.identity.publicKey }
      for (const [kind, n, reason] of kinds) {
        for (let i = 0; i < n; i++) {
          const payload = name === 'pieces'
            ? { op: 'PUT', key: `forged-${seq}`, value: { hash: `forged-${seq}`, instrument: 'kazoo' } }
            : { op: 'PUT', key: name === 'user' ? 'username' : `/orbitdb/forged-${seq}`, value: 'mallory' }
          const bytes = kind === 'garbage' ? new Uint8Array(64).fill(seq % 256) : (await forger.forge(kind, forgeTarget, payload, seq)).bytes
          seq++
          expect(await publish(forger, address, bytes), `forged entry #${seq - 1} on ${name} reached nobody`).toBeGreaterThan(0)
          expectedRefusals[reason] = (expectedRefusals[reason] ?? 0) + 1
        }
      }
    }
    const refusalsReached = (want: Record<string, number>): boolean => Object.entries(want).every(([r, n]) => (ledger.refused.get(r) ?? 0) >= n)
    if (!refusalsReached(expectedRefusals)) {
      await target.waitFor(() => refusalsReached(expectedRefusals), { timeoutMs: 60_000, what: 'a refusal of every forged entry' }).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}: refused ${JSON.stringify(Object.fromEntries(ledger.refused))} of ${JSON.stringify(expectedRefusals)}`)
      })
    }
    // every forged entry refused for its reason (the dbs are compared below). Other `not-allowed`
    // refusals are counted and shown, not failed: in 2 of ~12 CI runs 4 more were seen (once under load,
    // once idle), never here; their OrbitDB messages are in the JSON (`other_refusals`) to find out why
    const { refusedIdentities } = await target.request<{ refusedIdentities: Record<string, number> }>({ cmd: 'diagnostics' })
    const { 'not-allowed': notAllowedSeen = 0, ...otherRefusals } = Object.fromEntries(ledger.refused)
    const { 'not-allowed': notAllowedForged = 0, ...otherExpected } = expectedRefusals
    expect(otherRefusals).toEqual(otherExpected)
    expect(notAllowedSeen).toBeGreaterThanOrEqual(notAllowedForged)
    const notAllowedDetails = target.events.filter((e) => e.event === 'db:refused' && e.reason === 'not-allowed').map((e) => String(e.detail))
    const extraRefusals = { count: notAllowedSeen - notAllowedForged, identities: refusedIdentities, messages: notAllowedSeen > notAllowedForged ? notAllowedDetails : [] }

    // the hostile peer's own OrbitDB, told that everyone may write, writes into each of our dbs
    // (refused on the topic, or by OrbitDB when the entries come with a heads exchange)
    const writerRefusals = (): number => (ledger.refused.get('not-allowed') ?? 0) + (ledger.refused.get('topic:not-a-writer') ?? 0)
    const refusedBeforePuts = writerRefusals()
    allowEveryWriter()
    const puts = 4
    const pieces = await odb.open(dbs.pieces, { Database: Documents({ indexBy: 'hash' }) })
    await pieces.put({ hash: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', instrument: 'kazoo' })
    const user = await odb.open(dbs.user, { Database: KeyValue() })
    await user.put('username', 'mallory')
    await user.put('nodeId', mallory.peerId)
    const companionsDb = await odb.open(dbs.companions, { Database: KeyValue() })
    await companionsDb.put(Object.keys(expected)[5]!, { userDb: 'x' })
    if (writerRefusals() < refusedBeforePuts + puts) {
      await target.waitFor(() => writerRefusals() >= refusedBeforePuts + puts, { timeoutMs: 60_000, what: 'a refusal of every put' })
    }
    restoreAccess()
    const writesAt = now()

    // --- 4. entries naming identities nobody has, on the catalog of a companion we replicate ----
    // (OrbitDB checks a db's entries one at a time; a check that waited for such an identity's block
    // would hold every later entry, carol's next piece too)
    const replicated = async (pieces: number): Promise<number> => {
      const mark = target.mark()
      const started = now()
      await carol.request({ cmd: 'add', seed: `carol's piece ${pieces}` })
      await target.next('catalog:replicated', (e) => e.peerId === carol.peerId && e.pieces === pieces, { since: mark, timeoutMs: 60_000 })
      return now() - started
    }
    const quietMs = await replicated(1)
    await forger.waitSubscribed(carol.ready.pieces, target.peerId)
    const carolLog = { logId: carol.ready.pieces, identityHash: carol.ready.identity.hash, publicKey: carol.ready.identity.publicKey }
    const UNKNOWN = 100
    const refusedBefore = writerRefusals()
    for (let i = 0; i < UNKNOWN; i++) {
      const { bytes } = await forger.forge('unknown-identity', carolLog, { op: 'PUT', key: `forged-unknown-${i}`, value: { hash: `forged-unknown-${i}`, instrument: 'kazoo' } }, 10_000 + i)
      expect(await publish(forger, carol.ready.pieces, bytes), `unknown-identity entry #${i} reached nobody`).toBeGreaterThan(0)
    }
    // carol writes right behind the flood
    const floodedWriteMs = await replicated(2)
    // refused on the topic once carol's identity is known as her catalog's writer (else by our access check)
    if (writerRefusals() < refusedBefore + UNKNOWN) {
      await target.waitFor(() => writerRefusals() >= refusedBefore + UNKNOWN, { timeoutMs: 60_000, what: 'a refusal of every entry by an unknown identity' })
    }
    const unknownAt = now()

    // --- the verdict -------------------------------------------------------------------------
    expect(target.alive, 'the target crashed').toBe(true)
    const after = await target.request<Record<string, DbState>>({ cmd: 'dbState' })
    expect(after.pieces).toEqual(before.pieces)
    expect(after.user).toEqual(before.user)
    // the companions db is ours to update meanwhile (carol's lastSeen, the hosts we saw her at):
    // no key was added or removed by anyone else
    const keys = (state: DbState | undefined): string[] => (JSON.parse(state?.values ?? '[]') as Array<{ key: string }>).map((e) => e.key).sort()
    expect(keys(after.companions)).toEqual(keys(before.companions))
    const companionsAfter = await target.request<{ companions: Array<{ userDb: string }> }>({ cmd: 'companions' })
    expect(companionsAfter.companions.map((c) => c.userDb)).toEqual(companionsBefore.companions.map((c) => c.userDb))
    expect(ledger.discovered.filter((e) => (e.profile as { nodeId: string }).nodeId !== carol.peerId)).toEqual([])

    // every message accounted for, every outcome acceptable for what was sent
    const table = ledger.byLabel()
    const allowed: Record<string, readonly string[]> = {
      ...OUTCOMES,
      flood: ['discovery:rate-limited', 'discovery:not-found', 'discovery:queue-full'],
      swarm: ['discovery:not-found', 'discovery:queue-full'],
      relayed: ['discovery:not-connected'],
      forger: [],
      relay: []
    }
    let sent = 0
    let accounted = 0
    for (const [label, row] of Object.entries(table)) {
      const total = Object.values(row.outcomes).reduce((a, b) => a + b, 0)
      expect({ label, total }).toEqual({ label, total: row.sent })
      expect(Object.keys(row.outcomes).filter((o) => !allowed[label]!.includes(o)), `unexpected outcomes of ${label}`).toEqual([])
      sent += row.sent
      accounted += total
    }
    const generated = categories.reduce((n, c) => n + (table[c]?.sent ?? 0), 0)
    expect(generated).toBe(10_000)
    expect(accounted).toBe(sent)
    // the specific checks ran, not only the rate limit: each real-but-wrong db got its own reason
    for (const [userDb, reason] of Object.entries(expected)) {
      expect({ userDb, expected: reason, reasons: [...(ledger.reasonByDb.get(userDb) ?? [])] }).toMatchObject({ userDb, reasons: expect.arrayContaining([reason]) })
    }
    expect(table.relayed!.outcomes['discovery:not-connected']).toBe(20)
    expect(table.flood!.outcomes['discovery:rate-limited']).toBeGreaterThan(1_900)

    // memory: bounded relative to the target's start
    const end = await target.request<MemoryStats>({ cmd: 'stats', gc: true })
    const samples = target.events.filter((e) => e.event === 'stats') as unknown as MemoryStats[]
    const peakRss = Math.max(start.rss, ...samples.map((s) => s.rss))
    const peakHeap = Math.max(start.heapUsed, ...samples.map((s) => s.heapUsed))

    // --- a legitimate peer is still discovered ------------------------------------------------
    const mark = target.mark()
    const dave = await resources.start({ name: 'dave', repo: await resources.repo('dave') })
    await dave.request({ cmd: 'connect', addr: target.address })
    const found = await target.next('companion:discovered', about(dave.peerId), { since: mark, timeoutMs: 30_000 })
    await dave.next('companion:discovered', about(target.peerId), { since: 0, timeoutMs: 30_000 })
    const companionsEnd = await target.request<{ companions: Array<{ userDb: string }> }>({ cmd: 'companions' })
    expect(companionsEnd.companions.map((c) => c.userDb).sort()).toEqual([carol.ready.userDb, dave.ready.userDb].sort())

    const mb = (n: number): number => Math.round(n / MB * 10) / 10
    console.log(JSON.stringify({
      test: 'hostile',
      sent,
      generated,
      by_sender: table,
      hostile_reconnects: reconnects,
      other_refusals: extraRefusals,
      db_refusals: Object.fromEntries(ledger.refused),
      timings_ms: {
        generated: round(generatedAt - startedAt),
        flood_publish: round(floodMs),
        flood_settled: round(floodedAt - generatedAt),
        db_writes: round(writesAt - floodedAt),
        unknown_identities: round(unknownAt - writesAt),
        // carol's piece until the target has it: alone, and right behind 100 entries by identities nobody has
        legit_piece_quiet: round(quietMs),
        legit_piece_after_unknown_identities: round(floodedWriteMs),
        legit_discovered_after_connect: round(found.at - (dave.ready.at))
      },
      memory_mb: {
        start: { rss: mb(start.rss), heap: mb(start.heapUsed) },
        peak: { rss: mb(peakRss), heap: mb(peakHeap) },
        end_after_gc: { rss: mb(end.rss), heap: mb(end.heapUsed), external: mb(end.external), array_buffers: mb(end.arrayBuffers) },
        limits: { heap_growth: mb(HEAP_GROWTH_LIMIT), rss_growth: mb(RSS_GROWTH_LIMIT) }
      }
    }, null, 1))
    expect(end.heapUsed - start.heapUsed).toBeLessThan(HEAP_GROWTH_LIMIT)
    expect(peakRss - start.rss).toBeLessThan(RSS_GROWTH_LIMIT)

    expect(await dave.stop()).toBe(0)
    expect(await carol.stop()).toBe(0)
    expect(await target.stop()).toBe(0)
  })
})
