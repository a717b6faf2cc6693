import { readFile, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient } from '../src/api/client.js'
import { MAX_BODY_BYTES, startControlServer } from '../src/api/server.js'
import { ApiError, LoopbackOnlyError } from '../src/errors.js'
import { createPeer } from '../src/peer.js'
import { ensureToken, rotateToken } from '../src/repo.js'
import { Cleanups, tempDir } from './helpers.js'
import type { ControlServer } from '../src/api/server.js'
import type { Peer } from '../src/peer.js'

// One real peer (transport, catalog, discovery, companions) in this process with its
// control API on 127.0.0.1.
let peer: Peer
let server: ControlServer
let token: string
let repo: string
const cleanups = new Cleanups()

beforeAll(async () => {
  repo = await tempDir(cleanups, 'app-api')
  token = await ensureToken(repo)
  peer = createPeer({ repo, profile: { username: 'ada', city: 'Linz' } })
  cleanups.add(async () => { await peer.stop() })
  await peer.start()
  server = await startControlServer({ peer, token })
  cleanups.add(async () => { await server.close() })
})

afterAll(async () => { await cleanups.run() })

async function call (method: string, path: string, options: { token?: string | null, body?: string, host?: string } = {}): Promise<{ status: number, body: { error?: { name: string, message: string } } & Record<string, unknown>, text: string }> {
  const url = new URL(path, server.url)
  const headers: Record<string, string> = { Host: options.host ?? url.host }
  const auth = options.token === undefined ? token : options.token
  if (auth != null) headers.Authorization = `Bearer ${auth}`
  if (options.body != null) headers['Content-Type'] = 'application/json'
  // node:http rather than fetch: fetch may not set the Host header
  return await new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => {
        let body = {}
        try { body = JSON.parse(text) } catch { /* html */ }
        resolve({ status: res.statusCode ?? 0, body, text })
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

describe('the control API', () => {
  it('refuses requests without the token or with a wrong one', async () => {
    const none = await call('GET', '/api/id', { token: null })
    expect(none.status).toBe(401)
    expect(none.body.error?.message).toMatch(/Bearer/)
    const wrong = await call('GET', '/api/id', { token: 'x'.repeat(43) })
    expect(wrong.status).toBe(401)
    const short = await call('POST', '/api/peers', { token: 'abc', body: '{}' })
    expect(short.status).toBe(401)
    const ok = await call('GET', '/api/id')
    expect(ok.status).toBe(200)
    expect(ok.body.peerId).toBe(peer.transport.peerId)
    expect(ok.body.userDb).toBe(peer.catalog.userDbAddress)
    // the profile given to createPeer() was written by the catalog on its first start
    expect(ok.body.username).toBe('ada')
  })

  it('answers only to its own loopback host (DNS rebinding guard)', async () => {
    const res = await call('GET', '/api/id', { host: `evil.example:${server.port}` })
    expect(res.status).toBe(403)
    const page = await call('GET', '/', { host: 'evil.example' })
    expect(page.status).toBe(403)
  })

  it('rotates the token: a new one in the same 0600 file every time', async () => {
    const dir = await tempDir(cleanups, 'app-token')
    const first = await rotateToken(dir)
    const second = await rotateToken(dir)
    expect(second).not.toBe(first)
    expect((await readFile(join(dir, 'api.token'), 'utf8')).trim()).toBe(second)
    expect((await stat(join(dir, 'api.token'))).mode & 0o777).toBe(0o600)
  })

  it('keeps the token in a 0600 file, and out of the pages it serves', async () => {
    const mode = (await stat(join(repo, 'api.token'))).mode & 0o777
    expect(mode).toBe(0o600)
    for (const path of ['/', '/inspector', '/assets/common.js', '/assets/dashboard.js']) {
      const res = await call('GET', path, { token: null })
      expect(res.status, path).toBe(200)
      expect(res.text).not.toContain(token)
    }
    const mermaid = await call('GET', '/vendor/mermaid.min.js', { token: null })
    expect(mermaid.status).toBe(200)
    expect(mermaid.text.length).toBeGreaterThan(100_000)
    // the event-stream parser the pages import, and the module it imports
    for (const path of ['/vendor/eventsource-parser/stream.js', '/vendor/eventsource-parser/parse.js']) {
      const parser = await call('GET', path, { token: null })
      expect(parser.status, path).toBe(200)
      expect(parser.text, path).toMatch(/export /)
    }
  })

  it('answers bad bodies with 400 and the reason', async () => {
    const badMa = await call('POST', '/api/peers', { body: JSON.stringify({ multiaddr: 'not-a-multiaddr' }) })
    expect(badMa.status).toBe(400)
    expect(badMa.body.error?.message).toMatch(/multiaddr: not a valid multiaddr/)

    const badPiece = await call('POST', '/api/pieces', { body: JSON.stringify({ hash: 'nope', instrument: '' }) })
    expect(badPiece.status).toBe(400)
    expect(badPiece.body.error?.message).toMatch(/hash: not a valid CID/)
    expect(badPiece.body.error?.message).toMatch(/instrument: must not be empty/)

    const both = await call('POST', '/api/pieces', { body: JSON.stringify({ instrument: 'violin' }) })
    expect(both.status).toBe(400)
    expect(both.body.error?.message).toMatch(/exactly one of hash/)

    const extra = await call('POST', '/api/query', { body: JSON.stringify({ instrument: 'violin', limit: -1, colour: 'red' }) })
    expect(extra.status).toBe(400)
    expect(extra.body.error?.message).toMatch(/colour|limit/)

    const neither = await call('POST', '/api/peers', { body: JSON.stringify({}) })
    expect(neither.status).toBe(400)
    expect(neither.body.error?.message).toMatch(/exactly one of multiaddr or invite/)
    const badInvite = await call('POST', '/api/peers', { body: JSON.stringify({ invite: 'npp-invite:AAAA' }) })
    expect(badInvite.status).toBe(400)
    expect(badInvite.body.error?.name).toBe('InvalidInviteError')

    // bodies are bounded before they are read
    const huge = await call('POST', '/api/pieces', { body: JSON.stringify({ instrument: 'violin', title: 'x'.repeat(MAX_BODY_BYTES) }) })
    expect(huge.status).toBe(413)
    expect(huge.body.error?.name).toBe('PayloadTooLarge')

    const notJson = await call('POST', '/api/peers', { body: '{"multiaddr":' })
    expect(notJson.status).toBe(400)
    expect(notJson.body.error?.message).toBe('the body is not valid JSON')

    const badCid = await call('GET', '/api/pieces/xyz')
    expect(badCid.status).toBe(400)

    // the catalog's own typed errors map to 400 too
    const protectedField = await call('PUT', '/api/profile/pieces', { body: JSON.stringify({ value: 'mine' }) })
    expect(protectedField.status).toBe(400)
    expect(protectedField.body.error?.name).toBe('ProtectedFieldError')
  })

  it('answers only the profile\'s own fields: inherited names like constructor are 404', async () => {
    const api = new ApiClient(server.url, token, repo)
    await api.put('/api/profile/city', { value: 'Graz' })
    expect(await api.get('/api/profile/city')).toEqual({ field: 'city', value: 'Graz' })
    for (const field of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      const res = await call('GET', `/api/profile/${field}`)
      expect(res.status, field).toBe(404)
      expect(res.body.error, field).toEqual({ name: 'NoSuchField', message: `the profile has no field "${field}"` })
    }
  })

  it('refuses to listen anywhere but on the loopback interface, with a typed error', async () => {
    const err = await startControlServer({ peer, token, host: '0.0.0.0' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LoopbackOnlyError)
    expect(err).toMatchObject({ name: 'LoopbackOnlyError', exitCode: 2, message: expect.stringMatching(/127\.0\.0\.1 only, not 0\.0\.0\.0: use host 127\.0\.0\.1 or localhost/) })
  })

  it('adds, practises, finds and removes pieces', async () => {
    const api = new ApiClient(server.url, token, repo)
    const score = Buffer.from('a score').toString('base64')
    const { piece } = await api.post<{ piece: { hash: string } }>('/api/pieces', { instrument: 'Viola', title: 'Suite', score })
    expect(piece.hash).toMatch(/^bafk/)
    expect(await api.post('/api/pieces/' + piece.hash + '/practise')).toEqual({ hash: piece.hash, practised: 1 })
    const { pieces } = await api.get<{ pieces: Array<{ hash: string, practised: number }> }>('/api/pieces?instrument=viola')
    expect(pieces).toEqual([expect.objectContaining({ hash: piece.hash, practised: 1 })])
    const { piece: random } = await api.get<{ piece: { hash: string } }>('/api/random?instrument=VIOLA')
    expect(random.hash).toBe(piece.hash)
    await expect(api.get('/api/random?instrument=tuba')).rejects.toThrow(/no tuba piece/)
    expect(await api.delete('/api/pieces/' + piece.hash)).toEqual({ removed: true })
    const missing = await api.get('/api/pieces/' + piece.hash).catch((err: unknown) => err)
    expect(missing).toBeInstanceOf(ApiError)
    expect((missing as ApiError).status).toBe(404)
  })

  it('streams bus events and the inspector\'s records over server-sent events', async () => {
    const api = new ApiClient(server.url, token, repo)
    const controller = new AbortController()
    const events = api.events({ inspect: true, signal: controller.signal })
    const first = await events.next()
    expect(first.value).toMatchObject({ event: 'hello', data: { peerId: peer.transport.peerId } })
    const init = await events.next()
    expect(init.value?.event).toBe('inspect-init')
    const { actors } = init.value?.data as { actors: Array<{ label: string, machine?: string }> }
    for (const label of ['npp', 'transport', 'catalog', 'discovery', 'companions']) {
      expect(actors.some((a) => a.label === label), label).toBe(true)
    }
    await api.put('/api/profile/instrument', { value: 'cello' })
    await api.post('/api/pieces', { instrument: 'cello', score: Buffer.from('another').toString('base64') })
    let sawBus = false
    let sawInspect = false
    for await (const { event, data } of events) {
      if (event === 'bus' && (data as { type: string }).type === 'catalog:changed') sawBus = true
      if (event === 'inspect' && (data as { kind: string }).kind === 'event') sawInspect = true
      if (sawBus && sawInspect) break
    }
    controller.abort()
    expect(sawBus && sawInspect).toBe(true)
  })

  it('serves every machine\'s diagram, derived from the definitions', async () => {
    const api = new ApiClient(server.url, token, repo)
    const { machines } = await api.get<{ machines: Array<{ id: string, owner: string, mermaid: string }> }>('/api/machines')
    const ids = machines.map((m) => m.id)
    for (const id of ['npp', 'transport', 'catalog', 'discovery', 'companions']) expect(ids).toContain(id)
    for (const m of machines) expect(m.mermaid.startsWith('stateDiagram-v2')).toBe(true)
    // child machines (one per companion, per peer being discovered, per query source) are there too
    expect(machines.filter((m) => m.owner === '@npp/companions').length).toBeGreaterThan(1)
  })
})
