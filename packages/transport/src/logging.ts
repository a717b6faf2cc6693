import { enable, logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/logger'

let enabledPattern: string | undefined

/**
 * Turn on debug logs the way the tutorial's `LOG` variable does. Patterns are
 * comma-separated globs over namespaces: `npp:*` (ours), `orbitdb:*` (OrbitDB
 * dbs: opens, updates, joins; @orbitdb/core 4 logs nothing itself, so these are
 * written by our facade), `libp2p:*`, `helia:*`, or `*` for all. `DEBUG` works too.
 */
export function enableLogging (pattern: string | undefined = process.env.LOG): void {
  if (pattern == null || pattern === '' || pattern === enabledPattern) return
  enabledPattern = pattern
  enable(pattern)
}

/** A debug logger under our `npp:` namespace */
export function nppLogger (name: string): Logger {
  return logger(`npp:${name}`)
}

export type { Logger }
