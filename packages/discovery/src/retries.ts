/** The pure decision of discovery's root machine after a failure for load or time: retry later, or refuse */
import { retryKey, retryPlan, retryTimerId } from './admission.js'
import { rejected } from './events.js'
import type { AdmissionState, Pending, Queued } from './admission.js'
import type { DiscoveryEmitted } from './events.js'
import type { RejectionReason } from './schema.js'

/** A retry's delay is over (a delayed event the machine raises to itself) */
export interface RetryDue { type: 'retry.due', key: string }

/** What a transient failure leads to: another attempt later, or a final rejection */
export type Retry =
  | { retry: true, event: DiscoveryEmitted, due: RetryDue, id: string, delay: number, key: string, queued: Pending }
  | { retry: false, event: DiscoveryEmitted }

export function retryOrReject (state: AdmissionState & { peers: Record<string, true>, random: () => number }, failed: Queued, reason: RejectionReason, detail: string): Retry {
  const plan = retryPlan(state, failed, state.random)
  if (!plan.retry) return { retry: false, event: rejected(failed.from, failed.userDb, reason, plan.attempt > 1 ? `${detail} (after ${plan.attempt} attempts)` : detail) }
  const key = retryKey(failed)
  return {
    retry: true,
    event: { type: 'discovery:retrying', from: failed.from, userDb: failed.userDb, reason, detail, attempt: plan.attempt, delayMs: plan.delayMs },
    due: { type: 'retry.due', key },
    id: retryTimerId(key),
    delay: plan.delayMs,
    key,
    queued: { ...failed, attempt: plan.attempt, reason, detail }
  }
}
