import { timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import { toError } from '@npp/bus'
import { serveStatic } from '@hono/node-server/serve-static'
import { Hono } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { HTTPException } from 'hono/http-exception'
import { stream, streamSSE } from 'hono/streaming'
import { allMachines } from '../peer.js'
import { machineGraph, mermaidIds, toMermaid } from '../inspect/graph.js'
import { ControlServerError, LoopbackOnlyError } from '../errors.js'
import { stateString } from '../machine.js'
import { AddPieceBody, CidString, ConnectBody, InstrumentQuery, ProfileField, ProfileValue, QueryBody, reasonOf, UserDbAddress } from './schemas.js'
import type { Peer } from '../peer.js'
import type { MachineGraph } from '../inspect/graph.js'
import type { InspectionRecord } from '../inspect/recorder.js'
import type { ServerType } from '@hono/node-server'
import type { BusEvents } from '@npp/bus'
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { z } from 'zod'

/**
 * The peer's local control API and the dashboard it serves.
 *
 * Hono (with @hono/node-server) rather than fastify: it ships what this API needs
 * and nothing more — bearer-token auth with a constant-time compare, SSE and
 * chunked streaming helpers (live events, streamed query results) and static
 * files — on standard Request/Response objects, so tests can call `app.request()`
 * without a socket. Bodies are validated with zod (the same schemas the CLI uses).
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

/** Where the dashboard's files are: `web/` beside `dist/` and `src/` */
const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url))
const MERMAID = createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js')

/** A problem with an API request; `status` 400 for bad input */
export class HttpError extends Error {
  override readonly name = 'HttpError'
  constructor (readonly status: ContentfulStatusCode, readonly code: string, message: string) {
    super(message)
  }
}

/** HTTP status for the packages' typed errors, by their stable `name` */
const STATUS_BY_ERROR: Record<string, ContentfulStatusCode> = {
  InvalidPieceError: 400,
  InvalidHashError: 400,
  ProtectedFieldError: 400,
  InvalidProfileFieldError: 400,
  InvalidQueryError: 400,
  ScoreTooLargeError: 400,
  InvalidMultiaddrError: 400,
  InvalidPeerIdError: 400,
  SelfDialError: 400,
  PieceNotFoundError: 404,
  PeerUnreachableError: 502,
  DialTimeoutError: 504,
  NotStartedError: 503,
  CatalogNotStartedError: 503
}

/** JSON with Errors as `{ name, message }` */
function toJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message } : v))
}

function parse<S extends z.ZodType> (schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value)
  if (!result.success) throw new HttpError(400, 'BadRequest', reasonOf(result.error))
  return result.data
}

async function body (c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'BadRequest', 'the body is not valid JSON')
  }
}

/** A machine definition as the inspector and `npp machines --format json` show it */
export interface MachineView {
  id: string
  owner: string
  graph: MachineGraph
  /** `stateDiagram-v2` without highlighting */
  mermaid: string
  /** mermaid node id of each state node id (to highlight active states) */
  ids: Record<string, string>
}

/** Every package machine and child machine, derived from the definitions */
export function machineViews (extra: MachineGraph[] = []): MachineView[] {
  const graphs = allMachines().map(({ owner, machine }) => machineGraph(machine, owner))
  for (const g of extra) if (!graphs.some((x) => x.id === g.id)) graphs.push(g)
  return graphs.map((graph) => ({ id: graph.id, owner: graph.owner, graph, mermaid: toMermaid(graph), ids: mermaidIds(graph) }))
}

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

/** The Hono app of the control API and the dashboard */
export function createApi (options: ApiOptions): Hono {
  const { peer, token } = options
  const app = new Hono()
  const expected = Buffer.from(token)

  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse()
    if (err instanceof HttpError) return c.json({ error: { name: err.code, message: err.message } }, err.status)
    const status = STATUS_BY_ERROR[err.name] ?? 500
    return c.json({ error: { name: err.name, message: err.message } }, status)
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

  app.use('/api/*', bearerAuth({
    verifyToken: (given) => {
      const g = Buffer.from(given)
      return g.length === expected.length && timingSafeEqual(g, expected)
    },
    noAuthenticationHeader: { message: { error: { name: 'Unauthorized', message: 'missing Authorization: Bearer <token> (the token is in <repo>/api.token)' } } },
    invalidToken: { message: { error: { name: 'Unauthorized', message: 'wrong token (the token is in <repo>/api.token)' } } },
    invalidAuthenticationHeader: { message: { error: { name: 'BadRequest', message: 'malformed Authorization header: use Bearer <token>' } } }
  }))

  // --- the peer ---------------------------------------------------------------------
  const identity = async (): Promise<Record<string, unknown>> => ({
    peerId: peer.transport.peerId,
    multiaddrs: peer.transport.multiaddrs,
    userDb: peer.discovery.userDbAddress,
    pieces: peer.catalog.piecesAddress,
    repo: peer.repo,
    username: await peer.catalog.profile.get('username'),
    state: stateString(peer.actor.getSnapshot().value),
    components: peer.actor.getSnapshot().context.states,
    dashboard: options.dashboardUrl?.()
  })
  app.get('/api/id', async (c) => c.json(await identity()))
  app.post('/api/stop', (c) => {
    setImmediate(() => options.onStop?.())
    return c.json({ stopping: true }, 202)
  })

  app.get('/api/peers', (c) => c.json({ peers: peer.transport.peers() }))
  app.post('/api/peers', async (c) => {
    const { multiaddr } = parse(ConnectBody, await body(c))
    const connected = await peer.transport.connect(multiaddr)
    return c.json(connected)
  })

  app.get('/api/companions', async (c) => c.json({ companions: await peer.companions.list() }))
  app.delete('/api/companions', async (c) => {
    const userDb = parse(UserDbAddress, c.req.query('userDb') ?? '')
    return c.json({ removed: await peer.companions.remove(userDb) })
  })

  // --- the catalog ------------------------------------------------------------------
  const withCounts = async <P extends { hash: string }>(pieces: P[]): Promise<Array<P & { practised: number }>> =>
    await Promise.all(pieces.map(async (p) => ({ ...p, practised: await peer.catalog.practiceCount(p.hash) })))

  app.get('/api/pieces', async (c) => {
    const { instrument } = parse(InstrumentQuery, c.req.query())
    const pieces = instrument == null ? await peer.catalog.all() : await peer.catalog.byInstrument(instrument)
    return c.json({ pieces: await withCounts(pieces) })
  })
  app.post('/api/pieces', async (c) => {
    const input = parse(AddPieceBody, await body(c))
    const { score, ...rest } = input
    const hash = score == null ? rest.hash! : await peer.catalog.addScore(Buffer.from(score, 'base64'))
    const piece = await peer.catalog.add({ ...rest, hash })
    return c.json({ piece }, 201)
  })
  app.get('/api/pieces/:hash', async (c) => {
    const hash = parse(CidString, c.req.param('hash'))
    const piece = await peer.catalog.get(hash)
    if (piece == null) throw new HttpError(404, 'PieceNotFound', `no piece ${hash} in this catalog`)
    return c.json({ piece: { ...piece, practised: await peer.catalog.practiceCount(hash) } })
  })
  app.delete('/api/pieces/:hash', async (c) => {
    const hash = parse(CidString, c.req.param('hash'))
    return c.json({ removed: await peer.catalog.remove(hash) })
  })
  app.post('/api/pieces/:hash/practise', async (c) => {
    const hash = parse(CidString, c.req.param('hash'))
    if (await peer.catalog.get(hash) == null) throw new HttpError(404, 'PieceNotFound', `no piece ${hash} in this catalog`)
    return c.json({ hash, practised: await peer.catalog.practise(hash) })
  })
  app.get('/api/random', async (c) => {
    const { instrument } = parse(InstrumentQuery, c.req.query())
    const piece = await peer.catalog.random(instrument == null ? {} : { instrument })
    if (piece == null) throw new HttpError(404, 'NoPiece', instrument == null ? 'the catalog is empty: add a piece first' : `no ${instrument} piece in this catalog`)
    return c.json({ piece: { ...piece, practised: await peer.catalog.practiceCount(piece.hash) } })
  })

  app.get('/api/profile', async (c) => c.json({ profile: await peer.catalog.profile.all() }))
  app.get('/api/profile/:field', async (c) => {
    const field = parse(ProfileField, c.req.param('field'))
    const all = await peer.catalog.profile.all()
    // own fields only: `constructor` or `__proto__` are not fields of any profile
    if (!Object.hasOwn(all, field)) throw new HttpError(404, 'NoSuchField', `the profile has no field "${field}"`)
    return c.json({ field, value: all[field] })
  })
  app.put('/api/profile/:field', async (c) => {
    const field = parse(ProfileField, c.req.param('field'))
    const { value } = parse(ProfileValue, await body(c))
    await peer.catalog.profile.set(field, value)
    return c.json({ field, value })
  })
  app.delete('/api/profile/:field', async (c) => {
    const field = parse(ProfileField, c.req.param('field'))
    await peer.catalog.profile.delete(field)
    return c.json({ field, removed: true })
  })

  /** A distributed query: newline-delimited JSON, one line per batch as it arrives, then the `done` line */
  app.post('/api/query', async (c) => {
    const options = parse(QueryBody, await body(c))
    const run = peer.catalog.query(options)
    c.header('Content-Type', 'application/x-ndjson; charset=utf-8')
    return stream(c, async (s) => {
      try {
        for await (const item of run) {
          if (s.aborted) break
          await s.write(toJson(item) + '\n')
        }
      } catch (err) {
        // the status line is sent already: report the failure as the last line
        const e = toError(err)
        await s.write(toJson({ type: 'error', error: { name: e.name, message: e.message } }) + '\n')
      }
    })
  })

  // --- live updates -----------------------------------------------------------------
  /**
   * Server-sent events: every bus event (`event: bus`), and with `?inspect=1` the
   * inspector's stream (`event: inspect`) after a snapshot of the live actors
   * (`event: inspect-init`). The browser reads it with fetch (EventSource cannot
   * send the Authorization header).
   */
  app.get('/api/events', (c) => {
    const inspect = c.req.query('inspect') === '1'
    return streamSSE(c, async (sse) => {
      const queue: Array<{ event: string, data: string }> = []
      let wake: (() => void) | undefined
      const push = (event: string, data: unknown): void => {
        if (queue.length > 10_000) return // a stalled client: drop rather than grow without bound
        queue.push({ event, data: toJson(data) })
        wake?.()
      }
      const offBus = peer.bus.onAny(<K extends keyof BusEvents>(type: K, payload: BusEvents[K]) => { push('bus', { type, payload }) })
      const offInspect = inspect ? peer.recorder.subscribe((record: InspectionRecord) => { push('inspect', record) }) : () => {}
      let closed = false
      sse.onAbort(() => { closed = true; wake?.() })
      push('hello', { peerId: peer.transport.peerId })
      if (inspect) push('inspect-init', { actors: peer.recorder.liveActors(), recent: peer.recorder.recent(500) })
      try {
        while (!closed) {
          const next = queue.shift()
          if (next == null) {
            await new Promise<void>((resolve) => { wake = resolve })
            wake = undefined
            continue
          }
          await sse.writeSSE(next)
        }
      } finally {
        offBus()
        offInspect()
      }
    })
  })

  app.get('/api/inspect', (c) => c.json({ actors: peer.recorder.liveActors(), recent: peer.recorder.recent(500) }))
  app.get('/api/machines', (c) => c.json({ machines: machineViews(peer.recorder.machineGraphs()) }))

  // --- the dashboard ----------------------------------------------------------------
  const page = (file: string) => async (c: Context) => c.html(await readFile(`${WEB_ROOT}${file}`, 'utf8'))
  app.get('/', page('index.html'))
  app.get('/inspector', page('inspector.html'))
  app.get('/vendor/mermaid.min.js', async (c) => {
    c.header('Content-Type', 'text/javascript; charset=utf-8')
    c.header('Cache-Control', 'max-age=3600')
    return c.body(await readFile(MERMAID))
  })
  app.use('/assets/*', serveStatic({ root: WEB_ROOT, rewriteRequestPath: (p) => p.replace(/^\/assets/, '') }))
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
