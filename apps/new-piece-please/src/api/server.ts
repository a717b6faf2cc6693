import { timingSafeEqual } from 'node:crypto'
import { serve } from '@hono/node-server'
import { errorKind, HTTP_STATUS } from '@npp/kit'
import { Hono } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import { ControlServerError, HttpError, LoopbackOnlyError } from '../errors.js'
import { catalogRoutes } from './routes/catalog.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { liveRoutes } from './routes/live.js'
import { peerRoutes } from './routes/peer.js'
import { MAX_SCORE_BYTES } from './schemas.js'
import { queryRoutes } from './routes/query.js'
import type { Peer } from '../peer.js'
import type { ServerType } from '@hono/node-server'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

/**
 * The peer's local control API and the dashboard it serves.
 *
 * Hono (with @hono/node-server) rather than fastify: it ships what this API needs
 * and nothing more — bearer-token auth with a constant-time compare, SSE and
 * chunked streaming helpers (live events, streamed query results) and static
 * files — on standard Request/Response objects, so tests can call `app.request()`
 * without a socket. Bodies are validated with zod (the same schemas the CLI uses).
 * The routes are grouped in `routes/*.ts`; this file adds what every route shares:
 * the host guard, the token, and the answer to an error, whose HTTP status is the
 * error's own `kind` (`NppError`, from `@npp/kit`): bad input 400, not found 404,
 * not started 503, unreachable 502, timeout 504, anything else 500.
 *
 * Security: it listens on 127.0.0.1 only. Every `/api/*` request needs the repo's
 * secret token (`Authorization: Bearer <token>`, from `<repo>/api.token`, mode
 * 0600). The static pages hold no secret: `npp start` prints the dashboard URL with
 * the token in the URL *fragment* (`#token=...`), which browsers never send to a
 * server (so it is not in any request line, log or Referer); the page moves it to
 * sessionStorage and removes it from the address bar. We do not inject the token
 * into the served HTML: any page on the web could then read it through DNS
 * rebinding. For the same reason every request must carry a `Host` of the loopback
 * address and port we listen on, and no CORS headers are sent.
 */

export interface ApiOptions {
  peer: Peer
  token: string
  /** Accepted `Host` headers (DNS-rebinding guard); set once the port is known */
  allowedHosts: () => readonly string[]
  /** Called by `POST /api/stop` (the owner stops the peer and exits) */
  onStop?: () => void
  /** The dashboard URL (with the token fragment), for `GET /api/id` */
  dashboardUrl?: () => string | undefined
}

/** The largest request body the control API reads */
export const MAX_BODY_BYTES = Math.ceil(MAX_SCORE_BYTES * 4 / 3) + 64 * 1024

const unauthorized = (message: string): { error: { name: string, message: string } } => ({ error: { name: 'Unauthorized', message } })

/** The Hono app of the control API and the dashboard */
export function createApi (options: ApiOptions): Hono {
  const { peer, token } = options
  const app = new Hono()
  const expected = Buffer.from(token)

  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse()
    const name = err instanceof HttpError ? err.code : err.name
    return c.json({ error: { name, message: err.message } }, HTTP_STATUS[errorKind(err)] as ContentfulStatusCode)
  })
  app.notFound((c) => c.json({ error: { name: 'NotFound', message: `no route ${c.req.method} ${c.req.path}` } }, 404))

  app.use('*', async (c, next) => {
    const host = c.req.header('host') ?? ''
    if (!options.allowedHosts().includes(host)) {
      return c.json({ error: { name: 'ForbiddenHost', message: `Host "${host}" is not this peer's loopback address` } }, 403)
    }
    await next()
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    if (c.req.path.startsWith('/api/')) c.header('Cache-Control', 'no-store')
  })

  // Bodies are bounded before anyone reads them: the largest legitimate one is a score
  // (base64 in JSON, 4/3 of its bytes) with its fields
  app.use('/api/*', bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json({ error: { name: 'PayloadTooLarge', message: `the request body is larger than ${MAX_BODY_BYTES} bytes (a score is at most ${MAX_SCORE_BYTES} bytes)` } }, 413)
  }))

  app.use('/api/*', bearerAuth({
    verifyToken: (given) => {
      const g = Buffer.from(given)
      return g.length === expected.length && timingSafeEqual(g, expected)
    },
    noAuthenticationHeader: { message: unauthorized('missing Authorization: Bearer <token> (the token is in <repo>/api.token)') },
    invalidToken: { message: unauthorized('wrong token (the token is in <repo>/api.token)') },
    invalidAuthenticationHeader: { message: { error: { name: 'BadRequest', message: 'malformed Authorization header: use Bearer <token>' } } }
  }))

  app.route('/', peerRoutes({
    peer,
    ...(options.onStop == null ? {} : { onStop: options.onStop }),
    ...(options.dashboardUrl == null ? {} : { dashboardUrl: options.dashboardUrl })
  }))
  app.route('/', catalogRoutes({ peer }))
  app.route('/', queryRoutes({ peer }))
  app.route('/', liveRoutes({ peer }))
  app.route('/', dashboardRoutes())
  return app
}

export interface ControlServer {
  /** Base URL, e.g. `http://127.0.0.1:4321` */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

export interface ControlServerInit extends Omit<ApiOptions, 'allowedHosts' | 'dashboardUrl'> {
  /** `127.0.0.1` (default) or `localhost`: the API never listens on other interfaces */
  host?: string
  /** 0 (default) for a free port */
  port?: number
}

/** Start the control API on the loopback interface */
export async function startControlServer (init: ControlServerInit): Promise<ControlServer> {
  const host = init.host ?? '127.0.0.1'
  if (host !== '127.0.0.1' && host !== 'localhost') {
    throw new LoopbackOnlyError(host)
  }
  let port = init.port ?? 0
  const app = createApi({
    ...init,
    allowedHosts: () => [`127.0.0.1:${port}`, `localhost:${port}`],
    dashboardUrl: () => `http://127.0.0.1:${port}/#token=${init.token}`
  })
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => { resolve(s) })
    s.once('error', reject)
  })
  const address = server.address()
  if (address == null || typeof address === 'string') {
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    throw new ControlServerError('the control API got no TCP address from Node; try again, or pick a port with --web 127.0.0.1:PORT')
  }
  port = address.port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close () {
      await new Promise<void>((resolve) => {
        server.close(() => { resolve() })
        // SSE streams stay open until their clients go; end them
        if ('closeAllConnections' in server) server.closeAllConnections()
      })
    }
  }
}
