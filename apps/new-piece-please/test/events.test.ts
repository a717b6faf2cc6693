import { createBus } from '@npp/bus'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { describe, expect, it } from 'vitest'
import { MAX_PENDING_EVENTS } from '../src/api/routes/live.js'
import { createApi } from '../src/api/server.js'
import type { Peer } from '../src/peer.js'

const HOST = '127.0.0.1:1'
const TOKEN = 't'.repeat(43)

/** All microtasks (promise chains, web-stream internals) settle before the next turn */
const settled = async (): Promise<void> => { await new Promise((resolve) => { setImmediate(resolve) }) }

describe('the event stream (GET /api/events)', () => {
  it('keeps at most MAX_PENDING_EVENTS a stalled client has not read, in order, and drops the rest', async () => {
    const bus = createBus()
    const peer = { bus, transport: { peerId: '12D3KooWtest' } } as unknown as Peer
    const api = createApi({ peer, token: TOKEN, allowedHosts: () => [HOST] })
    const res = await api.request('/api/events', { headers: { Host: HOST, Authorization: `Bearer ${TOKEN}` } })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader()
    const next = async (): Promise<{ event: string | undefined, data: unknown }> => {
      const { value } = await reader.read()
      return { event: value?.event, data: JSON.parse(value!.data) }
    }

    // the client reads nothing while twice the bound is emitted
    const total = 2 * MAX_PENDING_EVENTS
    for (let i = 0; i < total; i++) bus.emit('peer:connected', { peerId: `p${i}`, multiaddrs: [] })
    expect(await next()).toEqual({ event: 'hello', data: { peerId: '12D3KooWtest' } })
    // hello took one place: bus events 0 .. MAX - 2 were kept, in order
    for (let i = 0; i < MAX_PENDING_EVENTS - 1; i++) {
      const { event, data } = await next()
      expect(event).toBe('bus')
      expect((data as { payload: { peerId: string } }).payload.peerId).toBe(`p${i}`)
    }
    // everything kept has been read: the next event is a new one, not a dropped one
    await settled()
    bus.emit('peer:disconnected', { peerId: 'last' })
    expect(await next()).toMatchObject({ event: 'bus', data: { type: 'peer:disconnected', payload: { peerId: 'last' } } })
    await reader.cancel()
  })
})
