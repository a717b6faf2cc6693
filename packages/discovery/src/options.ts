import { InvalidDiscoveryOptionError } from './errors.js'
import type { AcceptPolicy } from './consent.js'
import type { BackoffOptions } from '@npp/kit'

export interface RateLimit {
  /** Announcements accepted per peer and window */
  announcements: number
  windowMs: number
}

/** A bounded retry schedule: `attempts` in all (the first included), waits per {@link BackoffOptions} */
export interface RetryOptions extends BackoffOptions {
  attempts: number
}

/** Resolved options (every default applied) */
export interface DiscoveryOptions {
  accept: AcceptPolicy
  maxPending: number
  maxCompanions: number
  maxConcurrent: number
  maxQueued: number
  maxPerSender: number
  replicationTimeoutMs: number
  rateLimit: RateLimit
  /** Retries of our announcement to a connected peer whose `send` failed */
  announceRetry: RetryOptions
  /** Retries of an announced db whose validation failed for load or time, while its sender is connected */
  validationRetry: RetryOptions
}

/** What `createDiscovery()` takes for {@link RetryOptions} */
export interface RetryInit { attempts?: number, initialMs?: number, maxMs?: number }

/** Discovery's options: every one has a default */
export interface OptionsInit {
  /**
   * Who becomes a companion (default `consent`): under `consent`, peers we dial
   * (`discovery.connect()`) and peers with a valid invite of ours at once, any other
   * in the pending list until the user accepts or declines it; `all` admits every
   * peer with a valid `user` db (the tutorial's behaviour); `none` admits nobody new.
   * Companions already kept are always admitted.
   */
  accept?: AcceptPolicy
  /** Peers kept waiting for a decision (default 64; the oldest are dropped) */
  maxPending?: number
  /** Companions kept at most (default 256); more are refused as `too-many-companions` */
  maxCompanions?: number
  /** Announcements validated at once (default 4) */
  maxConcurrent?: number
  /** Announcements waiting beyond that (default 64); more are retried later (`queue-full`) */
  maxQueued?: number
  /** Places (validating + waiting) one sender may hold (default 2); more are retried later (`queue-full`) */
  maxPerSender?: number
  /** Bounded wait for an announced db's manifest + heads, and again for its pieces manifest (default 10 000 ms) */
  replicationTimeoutMs?: number
  /** Per sending peer (default 10 announcements per 10 000 ms) */
  rateLimit?: { announcements: number, windowMs: number }
  /**
   * Retries of our announcement to a connected peer when sending it failed (e.g. the
   * peer did not subscribe in time): `attempts` in all (default `Infinity`: until it is
   * sent), the first retry after `initialMs` (default 500), doubling up to `maxMs`
   * (default 8 000), with jitter. Retries end when the peer disconnects.
   */
  announceRetry?: RetryInit
  /**
   * Retries of an announced db whose validation failed for load or time (manifest or
   * heads not in time, queue full): `attempts` in all (default `Infinity`: until it is
   * admitted or refused for a reason about the db itself; a bounded number made a busy
   * 24-peer mesh give up on pairs it would have joined), the first retry after
   * `initialMs` (default 1 000), doubling up to `maxMs` (default 30 000), with jitter.
   * Retries end when the sender disconnects.
   */
  validationRetry?: RetryInit
}

const integer = (name: string, value: number | undefined, fallback: number, min = 1): number => {
  const v = value ?? fallback
  if (v !== Number.POSITIVE_INFINITY && (!Number.isInteger(v) || v < min)) throw new InvalidDiscoveryOptionError(name, v, `an integer >= ${min}`)
  return v
}

function retry (name: string, init: RetryInit = {}, defaults: Required<RetryInit>): RetryOptions {
  const initialMs = integer(`${name}.initialMs`, init.initialMs, defaults.initialMs)
  return {
    attempts: integer(`${name}.attempts`, init.attempts, defaults.attempts),
    initialMs,
    maxMs: integer(`${name}.maxMs`, init.maxMs, Math.max(defaults.maxMs, initialMs), initialMs),
    factor: 2,
    jitter: 0.25
  }
}

/** Apply the defaults and check every option (throws {@link InvalidDiscoveryOptionError}) */
export function resolveOptions (init: OptionsInit): DiscoveryOptions {
  const accept = init.accept ?? 'consent'
  if (!['consent', 'all', 'none'].includes(accept)) throw new InvalidDiscoveryOptionError('accept', accept, "'consent', 'all' or 'none'")
  return {
    accept,
    maxPending: integer('maxPending', init.maxPending, 64),
    maxCompanions: integer('maxCompanions', init.maxCompanions, 256),
    maxConcurrent: integer('maxConcurrent', init.maxConcurrent, 4),
    maxQueued: integer('maxQueued', init.maxQueued, 64, 0),
    maxPerSender: integer('maxPerSender', init.maxPerSender, 2),
    replicationTimeoutMs: integer('replicationTimeoutMs', init.replicationTimeoutMs, 10_000),
    rateLimit: {
      announcements: integer('rateLimit.announcements', init.rateLimit?.announcements, 10),
      windowMs: integer('rateLimit.windowMs', init.rateLimit?.windowMs, 10_000)
    },
    announceRetry: retry('announceRetry', init.announceRetry, { attempts: Number.POSITIVE_INFINITY, initialMs: 500, maxMs: 8_000 }),
    validationRetry: retry('validationRetry', init.validationRetry, { attempts: Number.POSITIVE_INFINITY, initialMs: 1_000, maxMs: 30_000 })
  }
}
