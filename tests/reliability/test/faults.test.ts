/**
 * Crash faults with real peers, each in its own process on 127.0.0.1: a
 * companion killed with SIGKILL while it writes, and an observer killed while it
 * replicates. "Acknowledged" means `catalog.add` resolved in the child, which
 * reports it on stdout (`acked`) before it starts the next write.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { now } from '../src/harness.js'
import { prng } from '../src/payloads.js'
import { Resources, about, round, summary } from './helpers.js'
import type { ChildPeer } from '../src/harness.js'
import type { ChildEvent } from '../src/protocol.js'

const resources = new Resources()
afterAll(async () => { await resources.cleanup() })

const KILLS = 20

describe('crash faults', () => {
  it(`a companion killed with SIGKILL ${KILLS} times while it writes loses no acknowledged piece, on it or on its companion`, async () => {
    const repoA = await resources.repo('writer')
    const b = await resources.start({ name: 'observer', repo: await resources.repo('observer') })
    let a = await resources.start({ name: 'writer', repo: repoA })
    await a.request({ cmd: 'connect', addr: b.address })
    // online = discovered and recorded in the companions db, so it survives a crash
    await b.next('companion:online', about(a.peerId), { since: 0 })
    await a.next('companion:online', about(b.peerId), { since: 0 })

    const rand = prng(6)
    const acked: string[] = []
    const offlineMs: number[] = []
    const restartMs: number[] = []
    const onlineMs: number[] = []
    const syncMs: number[] = []
    const loopStart = b.mark()
    for (let round = 0; round < KILLS; round++) {
      // write without pause; kill right after the n-th acknowledgement of this round
      const n = 1 + Math.floor(rand() * 6)
      const since = a.mark()
      a.send({ cmd: 'write', prefix: `round${round}` })
      let got = 0
      await a.waitFor((e) => {
        if (e.event !== 'acked') return false
        acked.push(e.hash as string)
        return ++got >= n
      }, { since, what: `${n} acknowledged writes` })
      const bMark = b.mark()
      const killedAt = now()
      await a.kill()

      // the companion sees it go offline
      const offline = await b.next('companion:offline', about(a.peerId), { since: bMark, timeoutMs: 15_000 })
      offlineMs.push(offline.at - killedAt)

      // restarted: its repo opens and every acknowledged piece is there
      const restartAt = now()
      a = await resources.start({ name: 'writer', repo: repoA })
      restartMs.push(a.ready.at - restartAt)
      const { hashes } = await a.request<{ hashes: string[] }>({ cmd: 'pieces' })
      const own = new Set(hashes)
      expect(acked.filter((h) => !own.has(h)), `round ${round}: acknowledged pieces missing on the writer`).toEqual([])

      // the companion sees it come back and, after sync, holds every acknowledged piece
      const online = await b.next('companion:online', about(a.peerId), { since: bMark, timeoutMs: 20_000 })
      onlineMs.push(online.at - restartAt)
      const replica = await b.request<{ ok: boolean, missing: string[], ms: number }>({ cmd: 'waitReplica', peerId: a.peerId, hashes: acked, timeoutMs: 30_000 })
      expect(replica.missing, `round ${round}: acknowledged pieces missing on the companion`).toEqual([])
      syncMs.push(replica.ms)
    }

    const offlines = b.events.slice(loopStart).filter((e) => e.event === 'companion:offline' && about(a.peerId)(e))
    const onlines = b.events.slice(loopStart).filter((e) => e.event === 'companion:online' && about(a.peerId)(e))
    expect(offlines.length).toBe(KILLS)
    expect(onlines.length).toBe(KILLS)
    expect(b.alive).toBe(true)
    console.log(JSON.stringify({
      test: 'sigkill-writer',
      kills: KILLS,
      acknowledged: acked.length,
      lost: 0,
      offline_after_kill_ms: summary(offlineMs),
      restart_until_ready_ms: summary(restartMs),
      online_after_restart_ms: summary(onlineMs),
      replica_complete_after_online_ms: summary(syncMs)
    }))
    expect(await a.stop()).toBe(0)
    expect(await b.stop()).toBe(0)
  })

  it('the observer killed mid-replication reopens its repo, keeps what it acknowledged and resumes until it holds every piece', async () => {
    const PIECES = 600
    const writer = await resources.start({ name: 'writer2', repo: await resources.repo('writer2') })
    const written = writer.mark()
    await writer.request({ cmd: 'write', prefix: 'catalog', count: PIECES }, 120_000)
    const catalog = writer.events.slice(written).filter((e) => e.event === 'acked').map((e) => e.hash as string)
    expect(catalog).toHaveLength(PIECES)

    const repo = await resources.repo('observer2')
    let observer: ChildPeer = await resources.start({ name: 'observer2', repo, options: { trackFetches: 5 } })
    const ownMark = observer.mark()
    await observer.request({ cmd: 'write', prefix: 'mine', count: 20 })
    const own = observer.events.slice(ownMark).filter((e) => e.event === 'acked').map((e) => e.hash as string)

    // connect; once the observer has recorded the writer as a companion (companion:online: it
    // redials it after a restart), kill it as soon as more blocks of the writer's catalog arrive
    const since = observer.mark()
    await observer.request({ cmd: 'connect', addr: writer.address })
    await observer.next('companion:online', about(writer.peerId), { since })
    const fetched = await observer.next('fetched', () => true, { since: observer.mark() })
    const complete = (e: ChildEvent): boolean => e.event === 'catalog:replicated' && e.peerId === writer.peerId && (e.pieces as number) >= PIECES
    await observer.kill()
    expect(observer.events.some(complete), 'the replica was complete before the kill: nothing was interrupted').toBe(false)
    const before = observer.events.filter((e) => e.event === 'fetched').at(-1)!

    // restarted on the same address: the repo opens and its own pieces are all there
    const restartAt = now()
    observer = await resources.start({ name: 'observer2', repo, options: { listen: [observer.address.replace(/\/p2p\/.*$/, '')], trackFetches: 5 } })
    const { hashes } = await observer.request<{ hashes: string[] }>({ cmd: 'pieces' })
    const mine = new Set(hashes)
    expect(own.filter((h) => !mine.has(h))).toEqual([])

    // replication resumes and ends with every piece of the writer
    const replica = await observer.request<{ ok: boolean, missing: string[], ms: number }>({ cmd: 'waitReplica', peerId: writer.peerId, hashes: catalog, timeoutMs: 90_000 }, 120_000)
    expect(replica.missing).toEqual([])
    console.log(JSON.stringify({
      test: 'sigkill-observer-mid-replication',
      pieces: PIECES,
      blocks_fetched_before_kill: before.count,
      first_report_at_blocks: fetched.count,
      restart_until_ready_ms: round(observer.ready.at - restartAt),
      complete_after_ready_ms: round(now() - observer.ready.at)
    }))
    expect(await observer.stop()).toBe(0)
    expect(await writer.stop()).toBe(0)
  })
})
