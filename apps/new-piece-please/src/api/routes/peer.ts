import { Hono } from 'hono'
import { stateString } from '../../machine.js'
import { body, parse } from '../http.js'
import { ConnectBody, UserDbAddress } from '../schemas.js'
import type { Peer } from '../../peer.js'

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
    const { multiaddr } = parse(ConnectBody, await body(c))
    return c.json(await peer.transport.connect(multiaddr))
  })

  // Online or offline is the companions package's word (its `status`), never derived here
  app.get('/api/companions', async (c) => c.json({ companions: await peer.companions.list() }))
  app.delete('/api/companions', async (c) => {
    const userDb = parse(UserDbAddress, c.req.query('userDb') ?? '')
    return c.json({ removed: await peer.companions.remove(userDb) })
  })
  return app
}
