import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { toJson } from '../http.js'
import { machineViews } from '../machines.js'
import type { Peer } from '../../peer.js'
import type { BusEvents } from '@npp/bus'

/**
 * What a client may leave unread: beyond either bound it is a slow client and is
 * dropped (its stream ends after what it was sent; the dashboard reconnects and
 * starts from a fresh state). Memory per client never exceeds the byte budget.
 */
export const MAX_PENDING_EVENTS = 10_000
export const MAX_PENDING_BYTES = 4 * 1024 * 1024

/**
 * `/api/events` (server-sent events), `/api/inspect` and `/api/machines`: the
 * live view of the peer for the dashboard, the inspector and `npp` commands.
 */
export function liveRoutes ({ peer }: { peer: Peer }): Hono {
  const app = new Hono()

  /**
   * Server-sent events with hono's `streamSSE`: every bus event (`event: bus`), and
   * with `?inspect=1` the inspector's stream (`event: inspect`) after a snapshot of
   * the live actors (`event: inspect-init`); first of all `event: hello`. The
   * browser reads it with fetch (EventSource cannot send the Authorization header).
   * Writes are chained so they keep their order; a write completes once the client
   * has taken it, so `pending` and `pendingBytes` count what a slow client has not
   * read yet; past {@link MAX_PENDING_EVENTS} or {@link MAX_PENDING_BYTES} it is dropped.
   */
  app.get('/api/events', (c) => {
    const inspect = c.req.query('inspect') === '1'
    return streamSSE(c, async (sse) => {
      let pending = 0
      let pendingBytes = 0
      let dropped = false
      let drop!: () => void
      const gone = new Promise<void>((resolve) => { sse.onAbort(resolve) })
      const ended = Promise.race([gone, new Promise<void>((resolve) => { drop = resolve })])
      let tail = Promise.resolve()
      const send = (event: string, data: unknown): void => {
        if (sse.aborted || dropped) return
        const message = { event, data: toJson(data) }
        const bytes = message.data.length + event.length
        if (pending + 1 > MAX_PENDING_EVENTS || pendingBytes + bytes > MAX_PENDING_BYTES) {
          dropped = true
          drop()
          return
        }
        pending++
        pendingBytes += bytes
        // (hono's write swallows a closed stream's errors; a rejection here must not end the chain either)
        tail = tail.then(async () => { await sse.writeSSE(message) }).catch(() => {}).finally(() => { pending--; pendingBytes -= bytes })
      }
      const aborted = ended
      const offBus = peer.bus.onAny(<K extends keyof BusEvents>(type: K, payload: BusEvents[K]) => { send('bus', { type, payload }) })
      const offInspect = inspect ? peer.recorder.subscribe((record) => { send('inspect', record) }) : () => {}
      send('hello', { peerId: peer.transport.peerId })
      if (inspect) send('inspect-init', { actors: peer.recorder.liveActors(), recent: peer.recorder.recent(500) })
      try {
        await aborted
      } finally {
        offBus()
        offInspect()
      }
      // a dropped client still gets what it was sent (bounded by the budget), then the end
      if (dropped) await Promise.race([tail, gone])
    })
  })

  app.get('/api/inspect', (c) => c.json({ actors: peer.recorder.liveActors(), recent: peer.recorder.recent(500) }))
  app.get('/api/machines', (c) => c.json({ machines: machineViews(peer.recorder.machineGraphs()) }))
  return app
}
