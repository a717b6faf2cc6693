/**
 * A silently cut link between two companions, each in its own network
 * namespace (created and removed here; needs root). Nothing sends FIN or RST
 * when a link goes down, so only liveness checks notice: the transport's
 * connection monitor pings every connection and closes one whose ping is not
 * answered in time.
 *
 * Detection target: PING_INTERVAL_MS + PING_TIMEOUT_MS (1 500 ms) is the worst
 * case in theory (the link is cut right after a ping succeeded; the next one
 * starts an interval later and fails a timeout after that). The assertion
 * allows 5 000 ms, about three times that, so that a loaded 2-core CI machine
 * (timers late, event loop busy) does not make it flaky. The 1 000 ms offline
 * target of issue 3 is for a killed process, whose kernel closes its sockets at
 * once; a cut link cannot be noticed faster than one interval plus one timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { now } from '../src/harness.js'
import { createLink, netnsAvailable, removeStaleNamespaces } from '../src/netns.js'
import { Resources, about, round } from './helpers.js'
import type { ChildPeer } from '../src/harness.js'
import type { NetnsLink } from '../src/netns.js'
import type { PeerOptions } from '../src/protocol.js'

const PING_INTERVAL_MS = 500
const PING_TIMEOUT_MS = 1_000
const DETECTION_TARGET_MS = 5_000

const available = await netnsAvailable()
if (!available.ok) {
  console.warn([
    '',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    `!!! SKIPPED: the cut-link test needs network namespaces (\`ip netns add\` as root): ${available.reason}`,
    '!!! Run the suite as root (CI does) to test liveness detection across a cut link.',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    ''
  ].join('\n'))
}

const resources = new Resources()
let link: NetnsLink | undefined
beforeAll(async () => {
  if (available.ok) await removeStaleNamespaces()
})
afterAll(async () => {
  // children first (they live in the namespaces), then the namespaces, even after a failure
  await resources.cleanup()
  await link?.remove()
})

async function acked (peer: ChildPeer, prefix: string, count: number): Promise<string[]> {
  const since = peer.mark()
  await peer.request({ cmd: 'write', prefix, count })
  return peer.events.slice(since).filter((e) => e.event === 'acked').map((e) => e.hash as string)
}

describe.skipIf(!available.ok)('a cut link between two companions (network namespaces)', () => {
  it(`both go offline within ${DETECTION_TARGET_MS} ms, reconnect when the link is back and converge with every write made during the cut`, async () => {
    link = await createLink('cut')
    const options = (address: string): PeerOptions => ({
      listen: [`/ip4/${address}/tcp/0`],
      connectionMonitor: { pingIntervalMs: PING_INTERVAL_MS, pingTimeoutMs: PING_TIMEOUT_MS },
      backoff: { initialMs: 250, maxMs: 2_000 }
    })
    const a = await resources.start({ name: 'ns-a', repo: await resources.repo('ns-a'), netns: link.a, options: options(link.addressA) })
    const b = await resources.start({ name: 'ns-b', repo: await resources.repo('ns-b'), netns: link.b, options: options(link.addressB) })
    expect(a.address).toContain(`/ip4/${link.addressA}/`)
    await a.request({ cmd: 'connect', addr: b.address })
    await a.next('companion:online', about(b.peerId), { since: 0 })
    await b.next('companion:online', about(a.peerId), { since: 0 })
    const beforeA = await acked(a, 'a-before', 5)
    const beforeB = await acked(b, 'b-before', 5)
    expect((await b.request<{ missing: string[] }>({ cmd: 'waitReplica', peerId: a.peerId, hashes: beforeA, timeoutMs: 20_000 })).missing).toEqual([])
    expect((await a.request<{ missing: string[] }>({ cmd: 'waitReplica', peerId: b.peerId, hashes: beforeB, timeoutMs: 20_000 })).missing).toEqual([])

    // cut: both notice by themselves, within the detection target
    const markA = a.mark()
    const markB = b.mark()
    const cutAt = now()
    await link.cut()
    const [offA, offB] = await Promise.all([
      a.next('companion:offline', about(b.peerId), { since: markA, timeoutMs: 30_000 }),
      b.next('companion:offline', about(a.peerId), { since: markB, timeoutMs: 30_000 })
    ])
    const detection = { a: round(offA.at - cutAt), b: round(offB.at - cutAt) }

    // both write while cut off (local writes need no network)
    const duringA = await acked(a, 'a-during', 8)
    const duringB = await acked(b, 'b-during', 8)
    // and still nothing gets through: a query finds the other offline
    const q = await a.request<{ sources: Array<{ peerId: string, status: string, reason?: string }> }>({ cmd: 'query', timeoutMs: 1_000 })
    expect(q.sources.find((s) => s.peerId === b.peerId)).toMatchObject({ status: 'failed', reason: 'offline' })

    // restore: they redial each other and converge
    const restoreMark = { a: a.mark(), b: b.mark() }
    const restoredAt = now()
    await link.restore()
    const [onA, onB] = await Promise.all([
      a.next('companion:online', about(b.peerId), { since: restoreMark.a, timeoutMs: 30_000 }),
      b.next('companion:online', about(a.peerId), { since: restoreMark.b, timeoutMs: 30_000 })
    ])
    const [atB, atA] = await Promise.all([
      b.request<{ missing: string[], ms: number }>({ cmd: 'waitReplica', peerId: a.peerId, hashes: [...beforeA, ...duringA], timeoutMs: 30_000 }),
      a.request<{ missing: string[], ms: number }>({ cmd: 'waitReplica', peerId: b.peerId, hashes: [...beforeB, ...duringB], timeoutMs: 30_000 })
    ])
    const convergedAt = now()
    expect(atB.missing).toEqual([])
    expect(atA.missing).toEqual([])

    console.log(JSON.stringify({
      test: 'netns-cut-link',
      ping_interval_ms: PING_INTERVAL_MS,
      ping_timeout_ms: PING_TIMEOUT_MS,
      detection_target_ms: DETECTION_TARGET_MS,
      offline_after_cut_ms: detection,
      online_after_restore_ms: { a: round(onA.at - restoredAt), b: round(onB.at - restoredAt) },
      converged_after_restore_ms: round(convergedAt - restoredAt),
      writes_during_cut: { a: duringA.length, b: duringB.length }
    }))
    expect(detection.a).toBeLessThanOrEqual(DETECTION_TARGET_MS)
    expect(detection.b).toBeLessThanOrEqual(DETECTION_TARGET_MS)
    expect(await a.stop()).toBe(0)
    expect(await b.stop()).toBe(0)
  })
})
