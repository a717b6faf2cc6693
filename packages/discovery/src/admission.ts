/**
 * Who gets validated, when: the pure decisions of discovery's root machine
 * (its actions apply them). One validation per db at a time, at most
 * `maxConcurrent`, `maxQueued` waiting, oldest first.
 */
import { backoffDelay } from '@npp/kit'
import type { DiscoveryOptions } from './options.js'
import type { RejectionReason } from './schema.js'
import type { KeyValueDatabase } from '@npp/transport'

/** An announcement waiting for a slot; `attempt` counts earlier failed attempts */
export interface Queued { from: string, userDb: string, attempt: number }

/** An announcement waiting out a retry delay, with the reason of its last failure */
export interface Pending extends Queued { reason: RejectionReason, detail: string }

/** A validated companion's `user` db, kept open */
export interface Known { nodeId: string, db: KeyValueDatabase }

/** What admission reads of the root's context */
export interface AdmissionState {
  options: DiscoveryOptions
  userDb: string | undefined
  active: Record<string, Queued>
  queue: Queued[]
  /** Announcements waiting out a retry delay, by {@link retryKey} */
  retrying: Record<string, Pending>
  known: Record<string, Known>
  removed: Record<string, { nodeId: string }>
}

export type Admission =
  | { kind: 'reject', reason: RejectionReason, detail: string }
  | { kind: 'start', known: KeyValueDatabase | undefined }
  | { kind: 'queue' }
  /** no room (for anyone, or for this sender): tried again later while it is connected */
  | { kind: 'full', detail: string }

export const removedDetail = (userDb: string): string =>
  `the user removed this companion; call discovery.readmit('${userDb}') (or with its peer id) to accept it again`

/** Checks that need no network: the db is ours, removed, someone else's, or being validated already */
function precheck (state: AdmissionState, { from, userDb }: Queued): Admission | undefined {
  if (userDb === state.userDb) return { kind: 'reject', reason: 'own-db', detail: 'the announced db is our own user db' }
  if (state.removed[userDb] != null) return { kind: 'reject', reason: 'removed', detail: removedDetail(userDb) }
  const known = state.known[userDb]
  if (known != null && known.nodeId !== from) {
    return { kind: 'reject', reason: 'node-id-mismatch', detail: `the db belongs to ${known.nodeId}, not to ${from}` }
  }
  return undefined
}

/** Decide what happens with a well-formed announcement (a fresh one, or a retry) */
export function admit (state: AdmissionState, announcement: Queued): Admission {
  const verdict = precheck(state, announcement)
  if (verdict != null) return verdict
  const { from, userDb } = announcement
  // the same announcement is being validated or waits already: nothing to add, but said, so that
  // every announcement has an outcome. (The same db from another sender waits its turn, so that
  // nobody can shadow a peer's own announcement.)
  const waiting = announcement.attempt === 0 && state.retrying[retryKey(announcement)] != null
  if (state.active[userDb]?.from === from || waiting || state.queue.some((q) => q.userDb === userDb && q.from === from)) {
    return { kind: 'reject', reason: 'duplicate', detail: 'the same announcement is being validated or waits already' }
  }
  // fairness: one sender holds at most `maxPerSender` places (validating + waiting), so that
  // nobody's announcements can fill the slots and the queue for everyone else
  const held = senderLoad(state, from)
  if (held >= state.options.maxPerSender) {
    return { kind: 'full', detail: `${held} announcements of this sender are being validated or wait already (at most ${state.options.maxPerSender} per sender)` }
  }
  if (Object.keys(state.active).length < state.options.maxConcurrent && state.active[userDb] == null) {
    return { kind: 'start', known: state.known[userDb]?.db }
  }
  return state.queue.length < state.options.maxQueued
    ? { kind: 'queue' }
    : { kind: 'full', detail: `${state.options.maxConcurrent} announcements are being validated and ${state.options.maxQueued} wait already` }
}

/** Places a sender holds: its announcements being validated or waiting for a slot */
function senderLoad (state: Pick<AdmissionState, 'active' | 'queue'>, from: string): number {
  return Object.values(state.active).filter((a) => a.from === from).length + state.queue.filter((q) => q.from === from).length
}

/** After a validation ended: which queued announcements start now, which are refused, which wait on */
export function drain (state: AdmissionState): { start: Array<Queued & { known: KeyValueDatabase | undefined }>, refuse: Array<Queued & { reason: RejectionReason, detail: string }>, queue: Queued[] } {
  const active = { ...state.active }
  const start: Array<Queued & { known: KeyValueDatabase | undefined }> = []
  const refuse: Array<Queued & { reason: RejectionReason, detail: string }> = []
  const waiting = new Set<Queued>()
  // round robin: of the waiting announcements, those of senders with the fewest validations running go
  // first (oldest first among equals), so that one busy sender does not take every slot that frees up
  const running = (from: string): number => Object.values(active).filter((a) => a.from === from).length
  const order = state.queue.map((q, i) => ({ q, i, load: running(q.from) })).sort((a, b) => a.load - b.load || a.i - b.i).map((x) => x.q)
  for (const next of order) {
    if (Object.keys(active).length >= state.options.maxConcurrent || active[next.userDb] != null) {
      waiting.add(next)
      continue
    }
    const verdict = precheck(state, next)
    if (verdict?.kind === 'reject') {
      refuse.push({ ...next, reason: verdict.reason, detail: verdict.detail })
      continue
    }
    active[next.userDb] = next
    start.push({ ...next, known: state.known[next.userDb]?.db })
  }
  // what still waits keeps its place (oldest first)
  return { start, refuse, queue: state.queue.filter((q) => waiting.has(q)) }
}

/** Most announcements of one sender waiting out a retry delay at once */
export const MAX_RETRIES_PER_SENDER = 4

/** The key of a retry: one per sender and db */
export const retryKey = ({ from, userDb }: { from: string, userDb: string }): string => `${from} ${userDb}`

/** The retry timer's id (a delayed `retry.due` event) */
export const retryTimerId = (key: string): string => `retry ${key}`

/**
 * Whether a transient failure is tried again, and when: while the sender is
 * connected, within `validationRetry.attempts` and {@link MAX_RETRIES_PER_SENDER}.
 * `failed.attempt` counts the attempts that failed before this one.
 */
export function retryPlan (state: AdmissionState & { peers: Record<string, true> }, failed: Queued, random: () => number): { retry: true, attempt: number, delayMs: number } | { retry: false, attempt: number } {
  const attempt = failed.attempt + 1
  const { from } = failed
  const pending = Object.values(state.retrying).filter((r) => r.from === from).length
  if (state.peers[from] == null || attempt >= state.options.validationRetry.attempts || pending >= MAX_RETRIES_PER_SENDER) return { retry: false, attempt }
  return { retry: true, attempt, delayMs: backoffDelay(attempt - 1, state.options.validationRetry, random) }
}
