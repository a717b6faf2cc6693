import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { nppLogger } from '@npp/transport'
import { createActor, waitFor } from 'xstate'
import { decodeInvite, encodeInvite, INVITE_PREFIX, issueInvite, proveInvite } from './consent.js'
import { DiscoveryError, DiscoveryNotStartedError, InvalidDiscoveryOptionError as InvalidInviteOptionError, InvalidInviteError, UnknownPendingError } from './errors.js'
import { discoveryMachine } from './discovery.machine.js'
import { resolveOptions } from './options.js'
import type { AnnouncedProfile } from './discovery.actors.js'
import type { KnownCompanions } from './discovery.machine.js'
import type { InviteStore, PendingCompanion } from './consent.js'
import type { CallOptions } from '@npp/transport'
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
  /**
   * Who is a companion already: they are admitted whatever the `accept` policy
   * (`createCompanions()` from `@npp/companions` satisfies this; create it first)
   */
  companions: KnownCompanions
  /**
   * Where our invites outlive a restart (default: nowhere, a restart revokes them). The app
   * keeps them in a 0600 file of the repo. Loaded on start; expired ones are dropped.
   */
  invites?: InviteStore
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
  /**
   * Dial a peer by multiaddr or by an invite of theirs (`npp-invite:...`), and consent
   * to it: it becomes a companion once its `user` db is validated. With an invite, our
   * announcement carries its proof, so that the inviter admits us too. Rejects like
   * `transport.connect()` (every address of an invite is tried in turn), or with
   * {@link InvalidInviteError}.
   */
  connect(addressOrInvite: string, options?: CallOptions): Promise<{ peerId: string }>
  /** Validated peers that wait for the user's decision, oldest first */
  pending(): PendingCompanion[]
  /** Accept the pending peers with this peer id or `user` db: they become companions. Throws {@link UnknownPendingError} if none */
  accept(peerIdOrUserDb: string): number
  /** Decline them: remembered like removed companions (`readmit` takes them back); resolves once written */
  decline(peerIdOrUserDb: string): Promise<number>
  /**
   * A one-line invite: our addresses and a secret that admits the peers that use it
   * (`uses`, default 1) until it expires (`ttlMs`, default 24 h) or is revoked (kept across
   * restarts with an `invites` store; without one a restart revokes it). Give it to the
   * other musician; they run `npp connect <invite>`.
   */
  invite(options?: { ttlMs?: number, uses?: number }): { invite: string, id: string, expiresAt: number }
  /** Revoke an invite by its id (false if it was not there: used up, expired or unknown) */
  revokeInvite(id: string): boolean
}

const DEFAULT_INVITE_TTL_MS = 24 * 60 * 60 * 1000
const MAX_INVITE_TTL_MS = 30 * 24 * 60 * 60 * 1000

/**
 * Create discovery for a peer. `start()` it after the transport: it opens our
 * `user` db (writing the fixture profile on first start), then announces it to
 * every peer that connects and validates what they announce.
 */
export function createDiscovery (init: DiscoveryInit): Discovery {
  const log = init.logger ?? nppLogger('discovery')
  const actor = createActor(discoveryMachine, {
    inspect: init.inspect,
    input: { bus: init.bus, transport: init.transport, catalog: init.catalog, companions: init.companions, ...(init.invites == null ? {} : { invites: init.invites }), options: resolveOptions(init), log }
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

    async connect (addressOrInvite, options = {}) {
      running('connect to a peer')
      if (!addressOrInvite.trim().startsWith(INVITE_PREFIX)) {
        const named = /\/p2p\/([^/]+)$/.exec(addressOrInvite)?.[1]
        if (named != null) actor.send({ type: 'consent.dial', peerId: named })
        const { peerId } = await init.transport.connect(addressOrInvite, options)
        if (named == null) actor.send({ type: 'consent.dial', peerId })
        return { peerId }
      }
      const invite = decodeInvite(addressOrInvite)
      if (invite.peerId === init.transport.peerId) throw new InvalidInviteError('it is our own invite; give it to another peer')
      actor.send({ type: 'consent.dial', peerId: invite.peerId, proof: proveInvite(invite, init.transport.peerId) })
      let last: unknown
      for (const address of invite.addresses) {
        try {
          return await init.transport.connect(address, options)
        } catch (err) {
          if (options.signal?.aborted === true) throw err
          last = err
        }
      }
      throw last
    },

    pending () { return [...running('list pending peers').context.pending] },

    accept (target) {
      const n = running('accept a pending peer').context.pending.filter((p) => p.peerId === target || p.userDb === target).length
      if (n === 0) throw new UnknownPendingError(target)
      actor.send({ type: 'consent.accept', target })
      log('accepted %d pending peer(s) of %s', n, target)
      return n
    },

    async decline (target) {
      const n = running('decline a pending peer').context.pending.filter((p) => p.peerId === target || p.userDb === target).length
      if (n === 0) throw new UnknownPendingError(target)
      actor.send({ type: 'consent.decline', target })
      await waitFor(actor, (s) => s.context.pendingWrites === 0 || !s.matches('running'))
      log('declined %d pending peer(s) of %s', n, target)
      return n
    },

    invite (options = {}) {
      running('create an invite')
      const ttlMs = options.ttlMs ?? DEFAULT_INVITE_TTL_MS
      const uses = options.uses ?? 1
      if (!Number.isInteger(ttlMs) || ttlMs < 1_000 || ttlMs > MAX_INVITE_TTL_MS) throw new InvalidInviteOptionError('ttlMs', ttlMs, `an integer from 1000 to ${MAX_INVITE_TTL_MS} (ms)`)
      if (!Number.isInteger(uses) || uses < 1 || uses > 1_000) throw new InvalidInviteOptionError('uses', uses, 'an integer from 1 to 1000')
      const issued = issueInvite(ttlMs, uses)
      actor.send({ type: 'invite.issue', invite: issued })
      const text = encodeInvite({ peerId: init.transport.peerId, addresses: init.transport.multiaddrs, id: issued.id, secret: issued.secret, expiresAt: issued.expiresAt })
      return { invite: text, id: issued.id, expiresAt: issued.expiresAt }
    },

    revokeInvite (id) {
      const known = running('revoke an invite').context.invites[id] != null
      if (known) actor.send({ type: 'invite.revoke', id })
      return known
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
