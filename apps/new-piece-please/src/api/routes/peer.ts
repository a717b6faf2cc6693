import { Hono } from 'hono'
import { stateString } from '../../machine.js'
import { body, parse } from '../http.js'
import { ConnectBody, InviteBody, PendingTarget, UserDbAddress } from '../schemas.js'
import type { Peer } from '../../peer.js'
import type { CompanionStatus } from '@npp/companions'

/**
 * A companion as `GET /api/companions` answers it: its status, and our replica of its catalog
 * (`state` as `catalog.replicas()` says it, `pieces` in it, log entries `done` of `known`;
 * `null` while no replica is open)
 */
export type CompanionView = CompanionStatus & { catalog: { state: string, pieces: number, done: number, known: number } | null }

export interface PeerRoutesOptions {
  peer: Peer
  /** Called by `POST /api/stop` (the owner stops the peer and exits) */
  onStop?: () => void
  /** The dashboard URL (with the token fragment), for `GET /api/id` */
  dashboardUrl?: () => string | undefined
}

/** `/api/id`, `/api/stop`, `/api/peers` and `/api/companions`: this peer, its connections, its companions */
export function peerRoutes ({ peer, onStop, dashboardUrl }: PeerRoutesOptions): Hono {
  const app = new Hono()

  app.get('/api/id', async (c) => {
    const snapshot = peer.actor.getSnapshot()
    return c.json({
      peerId: peer.transport.peerId,
      multiaddrs: peer.transport.multiaddrs,
      userDb: peer.catalog.userDbAddress,
      pieces: peer.catalog.piecesAddress,
      repo: peer.repo,
      username: await peer.catalog.profile.get('username'),
      state: stateString(snapshot.value),
      components: snapshot.context.states,
      dashboard: dashboardUrl?.()
    })
  })
  app.post('/api/stop', (c) => {
    setImmediate(() => onStop?.())
    return c.json({ stopping: true }, 202)
  })

  app.get('/api/peers', (c) => c.json({ peers: peer.transport.peers() }))
  app.post('/api/peers', async (c) => {
    const target = parse(ConnectBody, await body(c))
    // discovery dials, so that the peer we dial (or whose invite we bring) may become a companion
    return c.json(await peer.discovery.connect((target.multiaddr ?? target.invite)!))
  })

  // Consent: peers that announced themselves unasked wait here for the user's decision
  app.get('/api/companions/pending', (c) => c.json({ pending: peer.discovery.pending() }))
  app.post('/api/companions/pending/accept', async (c) => {
    const { target } = parse(PendingTarget, await body(c))
    return c.json({ accepted: peer.discovery.accept(target) })
  })
  app.post('/api/companions/pending/decline', async (c) => {
    const { target } = parse(PendingTarget, await body(c))
    return c.json({ declined: await peer.discovery.decline(target) })
  })
  app.post('/api/invites', async (c) => c.json(peer.discovery.invite(parse(InviteBody, await body(c))), 201))
  app.delete('/api/invites/:id', (c) => c.json({ revoked: peer.discovery.revokeInvite(c.req.param('id')) }))

  // Online or offline is the companions package's word (its `status`), never derived here
  app.get('/api/companions', async (c) => {
    // each with its catalog as our replica of it stands (the catalog's word): state and sync progress
    const list = await peer.companions.list()
    const replicas = new Map(peer.catalog.replicas().map((r) => [r.userDb, r]))
    const companions: CompanionView[] = list.map((companion) => {
      const r = replicas.get(companion.userDb)
      return { ...companion, catalog: r == null ? null : { state: r.state, pieces: r.size, done: r.entries, known: r.known } }
    })
    return c.json({ companions })
  })
  app.delete('/api/companions', async (c) => {
    const userDb = parse(UserDbAddress, c.req.query('userDb') ?? '')
    return c.json({ removed: await peer.companions.remove(userDb) })
  })
  return app
}
