import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { nppLogger } from '@npp/transport'
import { createActor, waitFor } from 'xstate'
import { DiscoveryError, DiscoveryNotStartedError } from './errors.js'
import { discoveryMachine } from './discovery.machine.js'
import { resolveOptions } from './options.js'
import type { AnnouncedProfile } from './discovery.actors.js'
import type { OptionsInit } from './options.js'
import type { Startable } from '@libp2p/interface'
import type { Bus } from '@npp/bus'
import type { Logger, Transport } from '@npp/transport'
import type { Actor, InspectionEvent, Observer } from 'xstate'

export interface DiscoveryInit extends OptionsInit {
  /** The bus of this peer: discovery listens to `peer:*`, `message:received` and `companion:removed`, and emits `db:*`, `discovery:*` and `companion:discovered` */
  bus: Bus
  /** A started transport (discovery uses its OrbitDB, Helia, libp2p and `send()`) */
  transport: Transport
  /**
   * Where our profile is: the `user` db that we announce is the catalog's
   * (`createCatalog()` from `@npp/catalog` satisfies this). Start it first.
   */
  catalog: AnnouncedProfile
  /** Debug logger (default `nppLogger('discovery')`, shown with `LOG="npp:*"`) */
  logger?: Logger
  /** XState inspection observer for the machine and its children (e.g. an app's live inspector) */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
}

/** Announces our `user` db to every connected peer and validates the dbs they announce */
export interface Discovery extends Startable {
  /** The machine's actor, for inspection */
  readonly actor: Actor<typeof discoveryMachine>
  /** Address of the `user` db we announce (the catalog's) */
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

/**
 * Create discovery for a peer. `start()` it after the transport: it opens our
 * `user` db (writing the fixture profile on first start), then announces it to
 * every peer that connects and validates what they announce.
 */
export function createDiscovery (init: DiscoveryInit): Discovery {
  const log = init.logger ?? nppLogger('discovery')
  const actor = createActor(discoveryMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport: init.transport, catalog: init.catalog, options: resolveOptions(init), log }
  })
  forwardEmitted(actor, init.bus)
  actor.start()
  const lifecycle = actorLifecycle(actor, { running: 'running' }, {
    startFailed: (cause) => new DiscoveryError(`Discovery could not start: ${cause?.message}; start the transport and the catalog first`, { cause }),
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
    get userDbAddress () { return running('read the user db address').context.userDb! },

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
      log('started; we announce %s', actor.getSnapshot().context.userDb)
    },

    async stop () {
      await lifecycle.stop()
      log('stopped')
    }
  }
}
