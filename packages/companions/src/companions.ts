import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { nppLogger } from '@npp/transport'
import { createActor, isMachineSnapshot, waitFor } from 'xstate'
import { CompanionsError, CompanionsNotStartedError, InvalidCompanionsOptionError } from './errors.js'
import { companionActorId, companionStatus } from './companion.machine.js'
import { companionsMachine } from './companions.machine.js'
import type { Backoff, CompanionState } from './companion.machine.js'
import type { CompanionRecord } from './schema.js'
import type { Startable } from '@libp2p/interface'
import type { Bus } from '@npp/bus'
import type { BackoffOptions } from '@npp/kit'
import type { Logger, Transport } from '@npp/transport'
import type { Actor, InspectionEvent, Observer } from 'xstate'

/** A companion with its connection status */
export interface CompanionStatus extends CompanionRecord {
  /** From the companion's own actor only: `online` between its `companion:online` and `companion:offline` */
  status: CompanionState
}

export interface CompanionsInit {
  /** The bus of this peer: companions listens to `companion:discovered` and `peer:*`, and emits `companion:online/offline/removed` */
  bus: Bus
  /** A started transport */
  transport: Transport
  /** Redialling of offline companions (defaults: 1 000 ms, 30 000 ms, factor 2, jitter 0.2) */
  backoff?: Partial<BackoffOptions>
  /** Debug logger (default `nppLogger('companions')`, shown with `LOG="npp:*"`) */
  logger?: Logger
  /** XState inspection observer for the machine and its children (e.g. an app's live inspector) */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
}

/** The peers whose catalogs we follow: persisted, shown online/offline, redialled */
export interface Companions extends Startable {
  /** The machine's actor, for inspection */
  readonly actor: Actor<typeof companionsMachine>
  /** Every companion with its status */
  list(): Promise<CompanionStatus[]>
  get(userDb: string): Promise<CompanionStatus | undefined>
  /** Is this `user` db address or peer id a companion (false while not running); discovery admits them without asking again */
  has(userDbOrPeerId: string): boolean
  /** How many companions there are (0 while not running) */
  count(): number
  /**
   * Forget a companion: deleted from the db (resolves once that is written, so
   * it stays deleted after a restart), no more redialling; emits
   * `companion:removed`, on which discovery closes its db and keeps it from
   * being discovered again by itself (`discovery.readmit()` takes it back).
   * False if unknown.
   */
  remove(userDb: string): Promise<boolean>
}

function resolveBackoff (init: CompanionsInit['backoff'] = {}): Backoff {
  const backoff = { initialMs: init.initialMs ?? 1_000, maxMs: init.maxMs ?? 30_000, factor: init.factor ?? 2, jitter: init.jitter ?? 0.2 }
  if (!Number.isFinite(backoff.initialMs) || backoff.initialMs <= 0) throw new InvalidCompanionsOptionError('backoff.initialMs', backoff.initialMs, 'a number > 0')
  if (!Number.isFinite(backoff.maxMs) || backoff.maxMs < backoff.initialMs) throw new InvalidCompanionsOptionError('backoff.maxMs', backoff.maxMs, `a number >= initialMs (${backoff.initialMs})`)
  if (!Number.isFinite(backoff.factor) || backoff.factor < 1) throw new InvalidCompanionsOptionError('backoff.factor', backoff.factor, 'a number >= 1')
  if (!(backoff.jitter >= 0 && backoff.jitter <= 1)) throw new InvalidCompanionsOptionError('backoff.jitter', backoff.jitter, 'a number from 0 to 1')
  return backoff
}

/**
 * Create the companions of a peer. `start()` it after the transport and the
 * catalog, before discovery: it loads the `companions` db and redials every
 * companion that is not connected.
 */
export function createCompanions (init: CompanionsInit): Companions {
  const log = init.logger ?? nppLogger('companions')
  const actor = createActor(companionsMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport: init.transport, backoff: resolveBackoff(init.backoff), log }
  })
  forwardEmitted(actor, init.bus)
  actor.start()
  const lifecycle = actorLifecycle(actor, { running: { active: 'running' }, stopping: { active: 'draining' } }, {
    startFailed: (cause) => new CompanionsError(`Companions could not open the companions db: ${cause?.message}; is the transport started?`, { cause }),
    stopFailed: (cause) => new CompanionsError(`Companions failed to stop: ${cause?.message}`, { cause }),
    interrupted: () => new CompanionsError('Companions was stopped while starting')
  })

  const running = (what: string): ReturnType<typeof actor.getSnapshot> => {
    const snapshot = actor.getSnapshot()
    if (!snapshot.matches({ active: 'running' })) throw new CompanionsNotStartedError(what)
    return snapshot
  }

  const list = (): CompanionStatus[] => {
    const snapshot = running('list companions')
    return Object.values(snapshot.context.records).map((record) => {
      const childSnapshot: unknown = snapshot.children[companionActorId(record.userDb)]?.getSnapshot()
      return { ...record, status: companionStatus(isMachineSnapshot(childSnapshot) ? childSnapshot.value : undefined) }
    })
  }

  return {
    actor,

    async list () { return list() },

    async get (userDb) { return list().find((c) => c.userDb === userDb) },

    count () {
      const snapshot = actor.getSnapshot()
      return snapshot.matches({ active: 'running' }) ? Object.keys(snapshot.context.records).length : 0
    },

    has (userDbOrPeerId) {
      const snapshot = actor.getSnapshot()
      if (!snapshot.matches({ active: 'running' })) return false
      const { records } = snapshot.context
      return records[userDbOrPeerId] != null || Object.values(records).some((r) => r.profile.nodeId === userDbOrPeerId)
    },

    async remove (userDb) {
      const snapshot = running('remove a companion')
      if (snapshot.context.records[userDb] == null) return false
      actor.send({ type: 'remove', userDb })
      // resolve once the delete is written, so a restart does not bring it back
      await waitFor(actor, (s) => s.context.pendingWrites === 0 || !s.matches('active'))
      return true
    },

    async start () {
      await lifecycle.start()
      log('started with %d companions', Object.keys(actor.getSnapshot().context.records).length)
    },

    async stop () {
      await lifecycle.stop()
      log('stopped')
    }
  }
}
