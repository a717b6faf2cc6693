import { CatalogNotStartedError, PieceNotFoundError, ScoreTooLargeError } from '@npp/catalog'
import { CompanionsNotStartedError } from '@npp/companions'
import { DiscoveryNotStartedError } from '@npp/discovery'
import { DialTimeoutError, NotStartedError, PeerUnreachableError, SelfDialError } from '@npp/transport'
import { describe, expect, it } from 'vitest'
import { createApi } from '../src/api/server.js'
import type { Peer } from '../src/peer.js'

/**
 * The HTTP status of an error is its own `kind` (NppError), whichever package threw
 * it: no list of class names in the API. A stub peer whose companions and transport
 * throw what a test gives them, called through `app.request()` (no socket, no peer).
 */
const HOST = '127.0.0.1:1'
const TOKEN = 't'.repeat(43)

function apiThrowing (error: Error): ReturnType<typeof createApi> {
  const fail = async (): Promise<never> => { throw error }
  const peer = {
    companions: { list: fail, remove: fail },
    transport: { peers: () => { throw error } },
    discovery: { connect: fail }
  } as unknown as Peer
  return createApi({ peer, token: TOKEN, allowedHosts: () => [HOST] })
}

async function statusOf (error: Error, path = '/api/companions', init: RequestInit = {}): Promise<{ status: number, body: { error?: { name: string, message: string } } }> {
  const res = await apiThrowing(error).request(path, { ...init, headers: { Host: HOST, Authorization: `Bearer ${TOKEN}`, ...init.headers } })
  return { status: res.status, body: await res.json() as { error?: { name: string, message: string } } }
}

describe('the control API answers an error with the status of its kind', () => {
  it('answers 503 to every "not started" error: discovery\'s, companions\', the catalog\'s, the transport\'s', async () => {
    for (const error of [
      new DiscoveryNotStartedError('announce'),
      new CompanionsNotStartedError('list companions'),
      new CatalogNotStartedError('query'),
      new NotStartedError('dial')
    ]) {
      const { status, body } = await statusOf(error)
      expect(status, error.name).toBe(503)
      expect(body.error, error.name).toEqual({ name: error.name, message: error.message })
    }
  })

  it('answers bad input 400, not found 404, unreachable 502, timeout 504, anything else 500', async () => {
    const cases: Array<[Error, number]> = [
      [new SelfDialError('/ip4/127.0.0.1/tcp/1'), 400],
      [new ScoreTooLargeError(2_000_000, 1_000_000), 400],
      [new PieceNotFoundError('bafkqaaa'), 404],
      [new PeerUnreachableError('/ip4/127.0.0.1/tcp/1'), 502],
      [new DialTimeoutError('/ip4/127.0.0.1/tcp/1', 1000), 504],
      [new Error('disk full'), 500]
    ]
    for (const [error, expected] of cases) {
      const { status, body } = await statusOf(error, '/api/peers', { method: 'POST', body: JSON.stringify({ multiaddr: '/ip4/127.0.0.1/tcp/1' }) })
      expect(status, error.name).toBe(expected)
      expect(body.error?.name, error.name).toBe(error.name)
    }
  })

  it('keeps the route\'s own error names (BadRequest) with their status', async () => {
    const { status, body } = await statusOf(new Error('unused'), '/api/companions?userDb=nope', { method: 'DELETE' })
    expect(status).toBe(400)
    expect(body.error?.name).toBe('BadRequest')
  })
})
