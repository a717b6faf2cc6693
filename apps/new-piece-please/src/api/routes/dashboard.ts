import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serveStatic } from '@hono/node-server/serve-static'
import { Hono } from 'hono'
import type { Context } from 'hono'

/** Where the dashboard's files are: `web/` beside `dist/` and `src/` */
const WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url))
const resolve = createRequire(import.meta.url).resolve
const MERMAID = resolve('mermaid/dist/mermaid.min.js')
/** eventsource-parser's ES modules (no dependencies): the pages parse `/api/events` with it */
const EVENTSOURCE_PARSER = dirname(resolve('eventsource-parser'))

/**
 * The dashboard's pages and files (no secret in any of them: the token stays in
 * the URL fragment and the tab's session storage), and the libraries they load,
 * served from `node_modules` (never a CDN).
 */
export function dashboardRoutes (): Hono {
  const app = new Hono()
  const page = (file: string) => async (c: Context) => c.html(await readFile(`${WEB_ROOT}${file}`, 'utf8'))
  app.get('/', page('index.html'))
  app.get('/inspector', page('inspector.html'))
  app.get('/vendor/mermaid.min.js', async (c) => {
    c.header('Content-Type', 'text/javascript; charset=utf-8')
    c.header('Cache-Control', 'max-age=3600')
    return c.body(await readFile(MERMAID))
  })
  app.use('/vendor/eventsource-parser/*', serveStatic({ root: EVENTSOURCE_PARSER, rewriteRequestPath: (p) => p.replace(/^\/vendor\/eventsource-parser/, '') }))
  app.use('/assets/*', serveStatic({ root: WEB_ROOT, rewriteRequestPath: (p) => p.replace(/^\/assets/, '') }))
  return app
}
