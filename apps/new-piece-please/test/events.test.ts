import { createBus } from '@npp/bus'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { describe, expect, it } from 'vitest'
import { MAX_PENDING_BYTES, MAX_PENDING_EVENTS } from '../src/api/routes/live.js'
import { createApi } from '../src/api/server.js'
import type { Peer } from '../src/peer.js'

const HOST = '127.0.0.1:1'
const TOKEN = 't'.repeat(43)

/** All microtasks (promise chains, web-stream internals) settle before the next turn */
const settled = async (): Promise<void> => { await new Promise((resolve) => { setImmediate(resolve) }) }

describe('the event stream (GET /api/events)', () => {
  const open = async (): Promise<{ bus: ReturnType<typeof createBus>, next: () => Promise<{ event: string | undefined, data: unknown } | undefined> }> => {
    const bus = createBus()
    const peer = { bus, transport: { peerId: '12D3KooWtest' } } as unknown as Peer
    const api = createApi({ peer, token: TOKEN, allowedHosts: () => [HOST] })
    const res = await api.request('/api/events', { headers: { Host: HOST, Authorization: `Bearer ${TOKEN}` } })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader()
    return {
      bus,
      next: async () => {
        const { value, done } = await reader.read()
        return done ? undefined : { event: value.event, data: JSON.parse(value.data) }
      }
    }
  }

  it('drops a client that leaves MAX_PENDING_EVENTS unread: it gets what it was sent, in order, then the end', async () => {
    const { bus, next } = await open()
    // the client reads nothing while twice the bound is emitted
    for (let i = 0; i < 2 * MAX_PENDING_EVENTS; i++) bus.emit('peer:connected', { peerId: `p${i}`, multiaddrs: [] })
    expect(await next()).toEqual({ event: 'hello', data: { peerId: '12D3KooWtest' } })
    // hello took one place: bus events 0 .. MAX - 2 were kept, in order
    for (let i = 0; i < MAX_PENDING_EVENTS - 1; i++) {
      const e = await next()
      expect(e?.event).toBe('bus')
      expect((e?.data as { payload: { peerId: string } }).payload.peerId).toBe(`p${i}`)
    }
    // then the stream ends (the dashboard reconnects); nothing emitted later is queued for it
    await settled()
    bus.emit('peer:disconnected', { peerId: 'late' })
    expect(await next()).toBeUndefined()
  })

  it('drops a client that leaves MAX_PENDING_BYTES unread, long before the event count', async () => {
    const { bus, next } = await open()
    const big = 'x'.repeat(256 * 1024)
    const total = Math.ceil(2 * MAX_PENDING_BYTES / big.length)
    for (let i = 0; i < total; i++) bus.emit('discovery:rejected', { from: `p${i}`, userDb: undefined, reason: 'bad-shape', detail: big })
    let received = 0
    for (let e = await next(); e != null; e = await next()) if (e.event === 'bus') received++
    expect(received).toBeGreaterThan(0)
    expect(received).toBeLessThan(total)
    expect(received * big.length).toBeLessThanOrEqual(MAX_PENDING_BYTES)
  })
})
