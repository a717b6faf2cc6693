/** Exponential backoff with jitter: the one retry schedule of every package */
export interface BackoffOptions {
  /** Delay before the first retry (ms) */
  initialMs: number
  /** Largest delay (ms) */
  maxMs: number
  /** Growth per failed attempt (default 2) */
  factor?: number
  /**
   * 0..1: each delay is shortened by up to this fraction, at random, so that
   * peers do not retry in lockstep (default 0: no jitter)
   */
  jitter?: number
}

/**
 * Delay before retry number `attempt` (0 = the first retry):
 * `min(maxMs, initialMs * factor^attempt)`, shortened at random by up to
 * `jitter` of itself. Never above `maxMs`, never below `(1 - jitter)` of the
 * un-jittered delay.
 *
 * @example
 * ```ts
 * backoffDelay(0, { initialMs: 500, maxMs: 8_000 }) // 500
 * backoffDelay(3, { initialMs: 500, maxMs: 8_000 }) // 4000
 * backoffDelay(9, { initialMs: 500, maxMs: 8_000 }) // 8000
 * ```
 */
export function backoffDelay (attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const { initialMs, maxMs, factor = 2, jitter = 0 } = options
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt))
  return Math.round(base * (1 - jitter * random()))
}
