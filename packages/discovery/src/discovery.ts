import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { nppLogger } from '@npp/transport'
import { createActor, waitFor } from 'xstate'
import { DiscoveryError, DiscoveryNotStartedError, InvalidDiscoveryOptionError } from './errors.js'
import { discoveryMachine } from './machine.js'
import type { DiscoveryOptions } from './machine.js'
import type { Startable } from '@libp2p/interface'
import type { Bus } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'
import type { Actor, InspectionEvent, Observer } from 'xstate'

export interface DiscoveryInit {
  /** The bus of this peer: discovery listens to `peer:*` and `message:received`, and emits `db:*`, `discovery:rejected` and `companion:discovered` */
  bus: Bus
  /** A started transport (discovery uses its OrbitDB, Helia and `send()`) */
  transport: Transport
  /** Announcements validated at once (default 4) */
  maxConcurrent?: number
  /** Announcements waiting beyond that; more are dropped with reason `queue-full` (default 64) */
  maxQueued?: number
  /** Bounded wait for an announced db's manifest + entries, and again for its pieces manifest (default 10 000 ms) */
  replicationTimeoutMs?: number
  /** Per sending peer (default 10 announcements per 10 000 ms) */
  rateLimit?: { announcements: number, windowMs: number }
  /**
   * Retries of our announcement to a connected peer when sending it failed (e.g.
   * the peer did not subscribe in time): `attempts` in all (default 5), the
   * first retry after `initialMs` (default 500), doubling up to `maxMs`
   * (default 8 000). Retries end when the peer disconnects.
   */
  announceRetry?: { attempts?: number, initialMs?: number, maxMs?: number }
  /**
   * Fields of our profile, each written to our `user` db only while it is
   * missing there (so on first start; `username` too: one the user set is never
   * overwritten). `pieces` and `nodeId` are always ours.
   */
  profile?: Record<string, unknown>
  /** Debug logger (default `nppLogger('discovery')`, shown with `LOG="npp:*"`) */
  logger?: Logger
  /** XState inspection observer for the machine and its children (e.g. an app's live inspector) */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
}

/** Announces our `user` db to every connected peer and validates the dbs they announce */
export interface Discovery extends Startable {
  /** The machine's actor, for inspection */
  readonly actor: Actor<typeof discoveryMachine>
  /** Our own `user` db (open once started) */
  readonly userDb: KeyValueDatabase
  /** Address of our own `user` db */
  readonly userDbAddress: string
  /**
   * Accept again a companion the user removed (`companion:removed`, e.g. by
   * `companions.remove()`): lifts the tombstone of that `user` db address, or of
   * every removed db of that peer id. If the peer is connected its db is
   * validated again at once (and `companion:discovered` follows); otherwise on
   * its next connection. Resolves, once the change is written, with the number
   * of tombstones lifted (0 if there was none).
   */
  readmit(userDbOrPeerId: string): Promise<number>
  /** The companions the user removed (their announcements are rejected as `removed`) */
  removed(): Array<{ userDb: string, nodeId: string }>
}

const positiveInteger = (name: string, value: number | undefined, fallback: number, min = 1): number => {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min) throw new InvalidDiscoveryOptionError(name, v, `an integer >= ${min}`)
  return v
}

function announceRetry (init: DiscoveryInit['announceRetry'] = {}): DiscoveryOptions['announceRetry'] {
  const initialMs = positiveInteger('announceRetry.initialMs', init.initialMs, 500)
  return {
    attempts: positiveInteger('announceRetry.attempts', init.attempts, 5),
    initialMs,
    maxMs: positiveInteger('announceRetry.maxMs', init.maxMs, Math.max(8_000, initialMs), initialMs)
  }
}

function resolveOptions (init: DiscoveryInit): DiscoveryOptions {
  return {
    maxConcurrent: positiveInteger('maxConcurrent', init.maxConcurrent, 4),
    maxQueued: positiveInteger('maxQueued', init.maxQueued, 64, 0),
    replicationTimeoutMs: positiveInteger('replicationTimeoutMs', init.replicationTimeoutMs, 10_000),
    rateLimit: {
      announcements: positiveInteger('rateLimit.announcements', init.rateLimit?.announcements, 10),
      windowMs: positiveInteger('rateLimit.windowMs', init.rateLimit?.windowMs, 10_000)
    },
    announceRetry: announceRetry(init.announceRetry),
    profile: { ...init.profile }
  }
}

/**
 * Create discovery for a peer. `start()` it after the transport: it opens our
 * `user` db (writing the fixture profile on first start), then announces it to
 * every peer that connects and validates what they announce.
 */
export function createDiscovery (init: DiscoveryInit): Discovery {
  const log = init.logger ?? nppLogger('discovery')
  const actor = createActor(discoveryMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport: init.transport, options: resolveOptions(init), log }
  })
  forwardEmitted(actor, init.bus)
  actor.start()
  const lifecycle = actorLifecycle(actor, { running: 'running' }, {
    startFailed: (cause) => new DiscoveryError(`Discovery could not open its user db: ${cause?.message}; is the transport started?`, { cause }),
    stopFailed: (cause) => new DiscoveryError(`Discovery failed to stop: ${cause?.message}`, { cause }),
    interrupted: () => new DiscoveryError('Discovery was stopped while starting')
  })

  const running = (what: string): ReturnType<typeof actor.getSnapshot> => {
    const snapshot = actor.getSnapshot()
    if (!snapshot.matches('running') || snapshot.context.userDb == null) throw new DiscoveryNotStartedError(what)
    return snapshot
  }

  const removed = (what: string): Array<{ userDb: string, nodeId: string }> =>
    Object.entries(running(what).context.removed).map(([userDb, { nodeId }]) => ({ userDb, nodeId }))

  return {
    actor,
    get userDb () { return running('use the user db').context.userDb! },
    get userDbAddress () { return running('read the user db address').context.userDb!.address },

    removed () { return removed('list removed companions') },

    async readmit (userDbOrPeerId) {
      const lifted = removed('readmit a companion').filter((r) => r.userDb === userDbOrPeerId || r.nodeId === userDbOrPeerId).length
      if (lifted === 0) return 0
      actor.send({ type: 'readmit', target: userDbOrPeerId })
      // resolve once the tombstones are deleted, so that a restart does not bring them back
      await waitFor(actor, (s) => s.context.pendingWrites === 0 || !s.matches('running'))
      log('readmitted %d removed companion(s) of %s', lifted, userDbOrPeerId)
      return lifted
    },

    async start () {
      await lifecycle.start()
      log('started; our user db is %s', actor.getSnapshot().context.userDb?.address)
    },

    async stop () {
      await lifecycle.stop()
      log('stopped')
    }
  }
}
