import { actorLifecycle, createBus } from '@npp/bus'
import { catalogMachine, createCatalog } from '@npp/catalog'
import { companionsMachine, createCompanions } from '@npp/companions'
import { createDiscovery, discoveryMachine } from '@npp/discovery'
import { createTransport, transportMachine } from '@npp/transport'
import { createActor } from 'xstate'
import { PeerFailedError } from './errors.js'
import { collectMachines } from './inspect/graph.js'
import { InspectionRecorder } from './inspect/recorder.js'
import { appMachine } from './machine.js'
import { inviteFile } from './repo.js'
import type { Components } from './machine.js'
import type { Startable } from '@libp2p/interface'
import type { Bus } from '@npp/bus'
import type { Catalog } from '@npp/catalog'
import type { Companions } from '@npp/companions'
import type { AcceptPolicy, Discovery } from '@npp/discovery'
import type { Transport } from '@npp/transport'
import type { Actor, AnyStateMachine, InspectionEvent, Observer } from 'xstate'

/** An XState inspection observer, as `createActor(..., { inspect })` takes it */
export type InspectObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void)

export interface PeerInit {
  /** The peer's repo folder (created if missing) */
  repo: string
  /** Listen multiaddrs (default: loopback TCP and WebSockets on free ports) */
  listen?: string[]
  /** `'none'` (default), `'public'` (contacts the internet) or multiaddrs to dial at start */
  bootstrap?: 'none' | 'public' | string[]
  /** More inspection observers besides the peer's own recorder (e.g. Stately's inspector) */
  inspect?: InspectObserver[]
  /** Default timeout of distributed queries (ms) */
  queryTimeoutMs?: number
  /**
   * Who becomes a companion (default `consent`: peers we dial or that bring our invite,
   * the others wait for the user's decision; `all`: every valid peer; `none`: nobody new)
   */
  accept?: AcceptPolicy
  /**
   * Profile fields (e.g. `{ username: 'alice' }`) written to our `user` db where
   * they are missing, so on first start; a field the user set is never
   * overwritten (default: a generated username)
   */
  profile?: Record<string, unknown>
}

/** One running peer of New Piece, Please!: every package wired on one bus */
export interface Peer extends Startable {
  readonly repo: string
  readonly bus: Bus
  readonly transport: Transport
  readonly discovery: Discovery
  readonly companions: Companions
  readonly catalog: Catalog
  /** The root machine's actor (see {@link appMachine}) */
  readonly actor: Actor<typeof appMachine>
  /** Every inspection event of every actor of this peer */
  readonly recorder: InspectionRecorder
  /** Start every package in order; rejects with the first failure (everything started is stopped again) */
  start(): Promise<void>
  /** Stop every package in reverse order */
  stop(): Promise<void>
}

/** The package machines, with the package that owns each (the inspector's and `npp machines`' list) */
export const PACKAGE_MACHINES: ReadonlyArray<{ owner: string, machine: AnyStateMachine }> = [
  { owner: 'new-piece-please', machine: appMachine },
  { owner: '@npp/transport', machine: transportMachine },
  { owner: '@npp/catalog', machine: catalogMachine },
  { owner: '@npp/companions', machine: companionsMachine },
  { owner: '@npp/discovery', machine: discoveryMachine }
]

/** Every machine (package machines and the child machines they spawn), with its owner */
export function allMachines (): Array<{ owner: string, machine: AnyStateMachine }> {
  return collectMachines(PACKAGE_MACHINES)
}

function tee (observers: InspectObserver[]): (event: InspectionEvent) => void {
  return (event) => {
    for (const o of observers) {
      if (typeof o === 'function') o(event)
      else o.next?.(event)
    }
  }
}

/**
 * Compose a peer: one bus, the transport, the catalog, companions and discovery
 * (started in that order), driven by the root machine. Nothing here reaches into a package: each is created
 * through its factory and talks to the others over the bus.
 */
export function createPeer (init: PeerInit): Peer {
  const bus = createBus()
  const owners = Object.fromEntries(allMachines().map(({ owner, machine }) => [machine.id, owner]))
  const recorder = new InspectionRecorder({ owners })
  const inspect = tee([recorder.inspect, ...(init.inspect ?? [])])

  const transport = createTransport({
    bus,
    repo: init.repo,
    ...(init.listen == null ? {} : { listen: init.listen }),
    ...(init.bootstrap == null ? {} : { bootstrap: init.bootstrap })
  })
  // The catalog owns our profile (it writes the missing fields on start); discovery
  // announces the catalog's user db, so it starts after it
  const catalog = createCatalog({
    bus,
    transport,
    ...(init.profile == null ? {} : { profile: init.profile }),
    ...(init.queryTimeoutMs == null ? {} : { defaultQueryTimeoutMs: init.queryTimeoutMs })
  })
  const companions = createCompanions({ bus, transport })
  // invites outlive a restart in a 0600 file of the repo
  const discovery = createDiscovery({ bus, transport, catalog, companions, invites: inviteFile(init.repo), ...(init.accept == null ? {} : { accept: init.accept }) })
  const components: Components = { transport, catalog, companions, discovery }
  // Inspection through each package actor's public `system.inspect()`: every actor of
  // that system (the package machine and all the children it spawns or invokes) from
  // now on, without the factories having to take an inspection option. What the
  // actors were before this line (their initial state) is seeded with `adopt()`.
  for (const component of Object.values(components)) {
    recorder.adopt(component.actor)
    component.actor.system.inspect(inspect)
  }
  const actor = createActor(appMachine, { input: { components, bus }, inspect })
  actor.start()
  const lifecycle = actorLifecycle(actor, { running: 'running', stopped: ['idle', 'stopped'] }, {
    startFailed: (cause) => cause ?? new PeerFailedError('The peer failed to start; run with LOG="npp:*" to see why'),
    stopFailed: (cause) => cause ?? new PeerFailedError('The peer failed to stop cleanly'),
    interrupted: () => new PeerFailedError('The peer was stopped while starting')
  })

  return {
    repo: init.repo,
    bus,
    transport,
    discovery,
    companions,
    catalog,
    actor,
    recorder,
    async start () {
      await lifecycle.start()
    },
    async stop () {
      await lifecycle.stop()
    }
  }
}
