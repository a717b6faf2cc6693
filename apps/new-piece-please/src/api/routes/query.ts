import { toError } from '@npp/bus'
import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import { body, parse, toJson } from '../http.js'
import { QueryBody } from '../schemas.js'
import type { Peer } from '../../peer.js'
import type { QueryEvent } from '@npp/catalog'

/**
 * One line of `POST /api/query`'s answer: the catalog's own {@link QueryEvent}s
 * as they arrive, or, if the query fails after the answer has started (its
 * status line is sent already), an `error` line as the last one.
 */
export type QueryLine = QueryEvent | { type: 'error', error: { name: string, message: string } }

/** `POST /api/query`: a distributed query, as newline-delimited JSON (one {@link QueryLine} per line) */
export function queryRoutes ({ peer }: { peer: Peer }): Hono {
  const app = new Hono()
  app.post('/api/query', async (c) => {
    const run = peer.catalog.query(parse(QueryBody, await body(c)))
    c.header('Content-Type', 'application/x-ndjson; charset=utf-8')
    return stream(c, async (s) => {
      const send = async (line: QueryLine): Promise<void> => { await s.write(toJson(line) + '\n') }
      try {
        for await (const event of run) {
          if (s.aborted) break
          await send(event)
        }
      } catch (err) {
        const { name, message } = toError(err)
        await send({ type: 'error', error: { name, message } })
      }
    })
  })
  return app
}
