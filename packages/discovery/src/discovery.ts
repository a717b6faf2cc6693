import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { nppLogger } from '@npp/transport'
import { createActor } from 'xstate'
import { DiscoveryError, DiscoveryNotStartedError, InvalidDiscoveryOptionError } from './errors.js'
import { discoveryMachine } from './machine.js'
import type { DiscoveryOptions } from './machine.js'
import type { Startable } from '@libp2p/interface'
import type { Bus } from '@npp/bus'
import type { KeyValueDatabase, Transport } from '@npp/transport'
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
  /** Extra fields of our profile, written to our `user` db on first start only (may set `username`) */
  profile?: Record<string, unknown>
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
}

const positiveInteger = (name: string, value: number | undefined, fallback: number, min = 1): number => {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min) throw new InvalidDiscoveryOptionError(name, v, `an integer >= ${min}`)
  return v
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
    profile: { ...init.profile }
  }
}

/**
 * Create discovery for a peer. `start()` it after the transport: it opens our
 * `user` db (writing the fixture profile on first start), then announces it to
 * every peer that connects and validates what they announce.
 */
export function createDiscovery (init: DiscoveryInit): Discovery {
  const log = nppLogger('discovery')
  const actor = createActor(discoveryMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport: init.transport, options: resolveOptions(init) }
  })
  forwardEmitted(actor, init.bus)
  actor.start()
  const lifecycle = actorLifecycle(actor, { running: 'running' }, {
    startFailed: (cause) => new DiscoveryError(`Discovery could not open its user db: ${cause?.message}; is the transport started?`, { cause }),
    stopFailed: (cause) => new DiscoveryError(`Discovery failed to stop: ${cause?.message}`, { cause }),
    interrupted: () => new DiscoveryError('Discovery was stopped while starting')
  })

  const userDb = (what: string): KeyValueDatabase => {
    const snapshot = actor.getSnapshot()
    if (!snapshot.matches('running') || snapshot.context.userDb == null) throw new DiscoveryNotStartedError(what)
    return snapshot.context.userDb
  }

  return {
    actor,
    get userDb () { return userDb('use the user db') },
    get userDbAddress () { return userDb('read the user db address').address },

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
