/**
 * A failed join or head exchange with a db's source, tried again. OrbitDB never
 * retries a join that failed (a block that did not come in time, a writer's
 * identity that could not be fetched): its database catches the error, writes it
 * to `console.error` and goes on; the exchange still ends with a `join` event, and
 * the heads are not in the log. It waits for the next head, and a companion that
 * wrote its last piece sends none: the replica keeps part of the log for good,
 * which is how `bench:query` stalled. A db opened `from` a peer (see ./orbitdb.ts)
 * exchanges heads with that peer again after a failed join or exchange, with
 * backoff, while the peer is connected (a reconnection exchanges heads by itself).
 */
import { backoffDelay } from '@npp/kit'
import { exchangeHeadsWith } from './sync.js'
import type { NppLibp2p } from './node.js'
import type { Database } from './orbitdb.js'
import type { PeerId } from '@libp2p/interface'

/** Exchanges tried again in this process (see `transport.diagnostics().exchangeRetries`) */
export const exchangeRetryCounts = { failedJoins: 0, scheduled: 0, started: 0, gaveUp: 0 }

export interface ExchangeRetryOptions {
  /** First delay after a failure (ms) */
  initialMs: number
  /** Longest delay (ms) */
  maxMs: number
  /** Failures in a row after which it waits for the next successful exchange or reconnection */
  maxAttempts: number
}

const DEFAULTS: ExchangeRetryOptions = { initialMs: 1_000, maxMs: 30_000, maxAttempts: 10 }

/** Until the returned function is called, a failed exchange or join of `db` is followed by a new exchange with `source` */
export function retryFailedExchanges (libp2p: NppLibp2p, db: Pick<Database, 'address' | 'events' | 'peers' | 'log'>, source: PeerId, options: ExchangeRetryOptions = DEFAULTS): () => void {
  let failures = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const exchangeAgain = (): void => {
    timer = undefined
    if (libp2p.getConnections(source).length === 0) return
    exchangeRetryCounts.started++
    // OrbitDB skips a peer it counts as synced: the failed join may have come after an exchange that went well
    db.peers.delete(source.toString())
    exchangeHeadsWith(libp2p, db.address, [source])
  }
  const onFailure = (): void => {
    if (timer != null) return
    if (failures >= options.maxAttempts) {
      exchangeRetryCounts.gaveUp++
      return
    }
    exchangeRetryCounts.scheduled++
    timer = setTimeout(exchangeAgain, backoffDelay(failures++, { initialMs: options.initialMs, maxMs: options.maxMs }))
  }
  const onJoin = (peer: unknown): void => { if (String(peer) === source.toString()) failures = 0 }
  // OrbitDB's database calls `log.joinEntry` by property for every head it is given
  const { log } = db
  const joinEntry = log.joinEntry
  log.joinEntry = async (entry) => {
    try {
      return await joinEntry(entry)
    } catch (err) {
      exchangeRetryCounts.failedJoins++
      onFailure()
      throw err
    }
  }
  db.events.on('error', onFailure)
  db.events.on('join', onJoin)
  return () => {
    clearTimeout(timer)
    log.joinEntry = joinEntry
    db.events.off('error', onFailure)
    db.events.off('join', onJoin)
  }
}
