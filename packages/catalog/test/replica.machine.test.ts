/**
 * The replica machine alone: its actors are swapped for fakes with
 * `.provide()`, so no node, db or network is involved, and every step waits
 * for a state, never for a duration.
 */
import { recordingLogger } from '@npp/testkit'
import { describe, expect, it } from 'vitest'
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate'
import { SourceUnavailableError } from '../src/index.js'
import { replicaMachine, replicaProgress } from '../src/replica.machine.js'
import type { ReplicaFollowerEvent } from '../src/replica.actors.js'
import type { ReplicaInput, ReplicaReport } from '../src/replica.machine.js'
import type { ReplicaStore } from '../src/stores.js'
import type { Transport } from '@npp/transport'

const profile = { userDb: '/orbitdb/bob-user', username: 'bob', pieces: '/orbitdb/bob-pieces', nodeId: 'peer-bob' }
const log = recordingLogger()
const store = { db: {}, index: {}, follower: {} } as unknown as ReplicaStore

const options: ReplicaInput['options'] = { openTimeoutMs: 1000, retryInitialMs: 600_000, retryMaxMs: 600_000, maxEntries: 1_000, maxBytes: 1_000_000, maxOpen: 64 }
/** Retries at once (1 ms of backoff) */
const quickRetries: ReplicaInput['options'] = { ...options, retryInitialMs: 1, retryMaxMs: 1 }

const input = (init: Partial<ReplicaInput> = {}): ReplicaInput => ({
  profile,
  transport: {} as Transport,
  log,
  online: true,
  options,
  ...init
})

interface Fakes {
  /** What each attempt to open does, in order (the last one repeats) */
  opens?: Array<() => Promise<ReplicaStore>>
  /** What the follower reports once started */
  follow?: ReplicaFollowerEvent[]
}

/** A replica with fake actors; records its attempts, closes, reports and the follower's `sendBack` */
function harness (fakes: Fakes = {}, init: Partial<ReplicaInput> = {}) {
  const opens = fakes.opens ?? [async () => store]
  const seen = { attempts: 0, closes: [] as Array<ReplicaStore | undefined>, reports: [] as ReplicaReport[], progress: [] as Array<{ done: number, known: number }>, syncStops: 0, send: undefined as ((e: ReplicaFollowerEvent) => void) | undefined }
  const machine = replicaMachine.provide({
    actors: {
      openReplica: fromPromise(async () => await opens[Math.min(seen.attempts++, opens.length - 1)]!()),
      followReplica: fromCallback<ReplicaFollowerEvent, { store: ReplicaStore }>(({ sendBack }) => {
        seen.send = sendBack
        for (const e of fakes.follow ?? [{ type: 'replica.loaded', hasData: true, size: 2, invalid: 1, entries: 3, bytes: 1_500, known: 0 }]) sendBack(e)
      }),
      closeReplica: fromPromise<void, { store: ReplicaStore | undefined }>(async ({ input }) => { seen.closes.push(input.store) }),
      stopReplicaSync: fromPromise<void, { store: ReplicaStore }>(async () => { seen.syncStops++ })
    },
    actions: {
      reportProgress: ({ context }) => { seen.progress.push(replicaProgress(context)) },
      report: ({ context }) => {
        seen.reports.push({ type: 'replica.updated', userDb: context.profile.userDb, peerId: context.profile.nodeId, username: context.profile.username, pieces: context.size, invalid: context.invalid })
      }
    }
  })
  const actor = createActor(machine, { input: input(init) })
  return { actor, seen }
}

const never = async (): Promise<never> => await new Promise<never>(() => {})
const failWith = (reason: string) => async (): Promise<never> => { throw new SourceUnavailableError(reason, `${reason} (a test)`) }

describe('replicaMachine', () => {
  it('opens, follows the db and reports what it holds when ready and on every change', async () => {
    const { actor, seen } = harness()
    actor.start()
    const ready = await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    expect(ready.context).toMatchObject({ store, size: 2, invalid: 1, entries: 3, bytes: 1_500, attempts: 0 })
    expect(seen.reports).toEqual([{ type: 'replica.updated', userDb: profile.userDb, peerId: 'peer-bob', username: 'bob', pieces: 2, invalid: 1 }])
    seen.send!({ type: 'replica.changed', size: 3, invalid: 1, entries: 4, bytes: 2_000, known: 0 })
    expect(seen.reports.map((r) => r.pieces)).toEqual([2, 3])
    expect(actor.getSnapshot().context).toMatchObject({ entries: 4, bytes: 2_000, known: 0 })
    actor.stop()
  })

  it('reports its progress while entries arrive during its first sync, and stops at its entry quota even then', async () => {
    const { actor, seen } = harness({ follow: [{ type: 'replica.loaded', hasData: false, size: 0, invalid: 0, entries: 0, bytes: 0, known: 0 }] })
    actor.start()
    await waitFor(actor, (s) => s.matches({ open: 'waiting' }))
    seen.send!({ type: 'replica.changed', size: 100, invalid: 0, entries: 100, bytes: 50_000, known: 800 })
    seen.send!({ type: 'replica.changed', size: 400, invalid: 0, entries: 400, bytes: 200_000, known: 800 })
    // still waiting for the sync to end (nothing reported as replicated), progress reported each time
    expect(actor.getSnapshot().matches({ open: 'waiting' })).toBe(true)
    expect(seen.reports).toEqual([])
    expect(seen.progress.slice(-2)).toEqual([{ done: 100, known: 800 }, { done: 400, known: 800 }])
    // a writer chooses its clock: what is known never goes past the quota
    seen.send!({ type: 'replica.changed', size: 500, invalid: 0, entries: 500, bytes: 250_000, known: 2 ** 40 })
    expect(seen.progress.at(-1)).toEqual({ done: 500, known: 1_000 })
    seen.send!({ type: 'replica.changed', size: 1_001, invalid: 0, entries: 1_001, bytes: 300_000, known: 2 ** 40 })
    const over = await waitFor(actor, (s) => s.matches({ open: 'overQuota' }))
    expect(over.context.reason).toBe('over-quota')
    actor.stop()
  })

  it('stops syncing past its entry quota, says why, and keeps answering from what it holds', async () => {
    const { actor, seen } = harness()
    actor.start()
    await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    seen.send!({ type: 'replica.synced', size: 900, invalid: 0, entries: 1_001, bytes: 500_000, known: 0 })
    const over = await waitFor(actor, (s) => s.matches({ open: 'overQuota' }))
    expect(over.context.reason).toBe('over-quota')
    expect(over.context.error?.message).toMatch(/1001 log entries, more than the 1000 kept per companion.*replicas\.maxEntries/)
    await waitFor(actor, () => seen.syncStops === 1)
    expect(over.context.store).toBe(store)
    // it reported what it holds; it does not leave the state by itself
    expect(seen.reports.at(-1)?.pieces).toBe(900)
    seen.send!({ type: 'replica.changed', size: 900, invalid: 0, entries: 1_001, bytes: 500_000, known: 0 })
    expect(actor.getSnapshot().matches({ open: 'overQuota' })).toBe(true)
    actor.stop()
  })

  it('stops syncing past its byte quota, says which limit with the numbers, and keeps answering from what it holds', async () => {
    const { actor, seen } = harness()
    actor.start()
    await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    // few entries, but large ones
    seen.send!({ type: 'replica.changed', size: 40, invalid: 2, entries: 42, bytes: 1_000_001, known: 0 })
    const over = await waitFor(actor, (s) => s.matches({ open: 'overQuota' }))
    expect(over.context).toMatchObject({ reason: 'over-quota', entries: 42, bytes: 1_000_001, store })
    expect(over.context.error?.message).toBe('bob\'s catalog has 1000001 bytes (1.0 MiB) of log entries, more than the 1000000 bytes (1.0 MiB) kept per companion; ' +
      'it stopped syncing and answers from what it has (raise catalog option replicas.maxBytes to keep more)')
    await waitFor(actor, () => seen.syncStops === 1)
    expect(seen.reports.at(-1)?.pieces).toBe(40)
    actor.stop()
  })

  it('goes over its quota straight from what is stored locally, and names both limits when both are passed', async () => {
    const { actor, seen } = harness({ follow: [{ type: 'replica.loaded', hasData: true, size: 1_500, invalid: 0, entries: 1_500, bytes: 3_000_000, known: 0 }] })
    actor.start()
    const over = await waitFor(actor, (s) => s.matches({ open: 'overQuota' }))
    expect(over.context.error?.message).toMatch(/1500 log entries, more than the 1000 kept per companion, and 3000000 bytes \(2\.9 MiB\) of log entries.*raise catalog option replicas\.maxEntries and replicas\.maxBytes/)
    await waitFor(actor, () => seen.syncStops === 1)
    actor.stop()
  })

  it('stays ready up to its byte quota (the quota is the most kept, not one less)', async () => {
    const { actor, seen } = harness()
    actor.start()
    await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    seen.send!({ type: 'replica.synced', size: 1_000, invalid: 0, entries: 1_000, bytes: 1_000_000, known: 0 })
    expect(actor.getSnapshot().matches({ open: 'ready' })).toBe(true)
    expect(seen.syncStops).toBe(0)
    actor.stop()
  })

  it('waits for the first sync when nothing is stored locally', async () => {
    const { actor, seen } = harness({ follow: [{ type: 'replica.loaded', hasData: false, size: 0, invalid: 0, entries: 3, bytes: 1_000, known: 0 }] })
    actor.start()
    await waitFor(actor, (s) => s.matches({ open: 'waiting' }))
    expect(seen.reports).toEqual([])
    seen.send!({ type: 'replica.synced', size: 5, invalid: 0, entries: 8, bytes: 4_000, known: 0 })
    expect(actor.getSnapshot().matches({ open: 'ready' })).toBe(true)
    expect(seen.reports.map((r) => r.pieces)).toEqual([5])
    actor.stop()
  })

  it('opens a failed replica again after the backoff while online, and forgets the failures once ready', async () => {
    const { actor, seen } = harness({ opens: [failWith('open-timeout'), failWith('no-manifest'), async () => store] }, { options: quickRetries })
    actor.start()
    const failed = await waitFor(actor, (s) => s.matches('failed'))
    expect(failed.context).toMatchObject({ reason: 'open-timeout', attempts: 1 })
    expect(failed.context.error).toBeInstanceOf(SourceUnavailableError)
    const ready = await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    expect(seen.attempts).toBe(3)
    // each retry closed what the failed attempt left (nothing here)
    expect(seen.closes).toEqual([undefined, undefined])
    expect(ready.context).toMatchObject({ attempts: 0, reason: undefined, error: undefined })
    actor.stop()
  })

  it('waits with kit\'s backoff: retryInitialMs, doubling, at most retryMaxMs', () => {
    const delay = replicaMachine.implementations.delays.retryDelay as (args: { context: { attempts: number, options: ReplicaInput['options'] } }) => number
    const backoff = { ...options, retryInitialMs: 100, retryMaxMs: 500 }
    expect([1, 2, 3, 4, 5].map((attempts) => delay({ context: { attempts, options: backoff } }))).toEqual([100, 200, 400, 500, 500])
  })

  it('opens a failed replica again at once when its companion comes online, not while offline', async () => {
    const { actor, seen } = harness({ opens: [failWith('open-timeout'), async () => store] }, { online: false })
    actor.start()
    await waitFor(actor, (s) => s.matches('failed'))
    actor.send({ type: 'offline' })
    expect(actor.getSnapshot().value).toBe('failed')
    actor.send({ type: 'online' })
    expect(actor.getSnapshot().context.online).toBe(true)
    await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    expect(seen.attempts).toBe(2)
    actor.stop()
  })

  it('does not open again after a permanent failure (an invalid manifest), whatever happens', async () => {
    const { actor, seen } = harness({ opens: [failWith('invalid-manifest'), async () => store] }, { options: quickRetries })
    actor.start()
    await waitFor(actor, (s) => s.matches('failed'))
    actor.send({ type: 'online' })
    actor.send({ type: 'retry' })
    expect(actor.getSnapshot()).toMatchObject({ value: 'failed', context: { reason: 'invalid-manifest', online: true } })
    expect(seen.attempts).toBe(1)
    actor.stop()
  })

  it('fails with replication-error when following fails, and is tried again on retry', async () => {
    const { actor, seen } = harness()
    actor.start()
    await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    seen.send!({ type: 'replica.error', error: new Error('log broke') })
    expect(actor.getSnapshot()).toMatchObject({ value: 'failed', context: { reason: 'replication-error', attempts: 1 } })
    actor.send({ type: 'retry' })
    await waitFor(actor, (s) => s.matches({ open: 'ready' }))
    // the retry closed the store of the failed attempt first
    expect(seen.closes).toEqual([store])
    actor.stop()
  })

  it('closes: at once while opening, through closing once open', async () => {
    const opening = harness({ opens: [never] })
    opening.actor.start()
    opening.actor.send({ type: 'close' })
    expect(opening.actor.getSnapshot().status).toBe('done')
    expect(opening.seen.closes).toEqual([])

    const open = harness()
    open.actor.start()
    await waitFor(open.actor, (s) => s.matches({ open: 'ready' }))
    open.actor.send({ type: 'close' })
    await waitFor(open.actor, (s) => s.status === 'done')
    expect(open.seen.closes).toEqual([store])
  })
})
