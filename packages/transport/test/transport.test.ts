import { createBus } from '@npp/bus'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createTransport, KeyValue, InvalidMultiaddrError, PeerUnreachableError, RepoLockedError, SelfDialError,
  MessageTooLargeError, PeerNotSubscribedError, MAX_MESSAGE_BYTES
} from '../src/index.js'
import { PeerProcess, tempRepo } from './helpers.js'
import type { Transport } from '../src/index.js'
import type { Bus } from '@npp/bus'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function peer (name: string, repo?: string): Promise<{ bus: Bus, transport: Transport, repo: string }> {
  let dir = repo
  if (dir == null) {
    const tmp = await tempRepo(name)
    cleanups.push(tmp.cleanup)
    dir = tmp.dir
  }
  const bus = createBus()
  const transport = createTransport({ bus, repo: dir })
  await transport.start()
  cleanups.push(async () => { await transport.stop() })
  return { bus, transport, repo: dir }
}

describe('transport in one process', () => {
  it('connects two peers that list each other and exchange messages both ways', async () => {
    const a = await peer('a')
    const b = await peer('b')
    expect(a.transport.multiaddrs.every((m) => m.startsWith('/ip4/127.0.0.1/'))).toBe(true)

    const connected = a.bus.waitFor('peer:connected', (e) => e.peerId === b.transport.peerId, { timeoutMs: 10_000 })
    const { peerId } = await b.transport.connect(a.transport.multiaddrs[0]!)
    expect(peerId).toBe(a.transport.peerId)
    await connected
    expect(a.transport.peers().map((p) => p.peerId)).toContain(b.transport.peerId)
    expect(b.transport.peers().map((p) => p.peerId)).toContain(a.transport.peerId)

    const atA = a.bus.waitFor('message:received', undefined, { timeoutMs: 10_000 })
    await b.transport.send(a.transport.peerId, { hello: 'a', n: 1 })
    expect(await atA).toEqual({ from: b.transport.peerId, payload: { hello: 'a', n: 1 } })

    const atB = b.bus.waitFor('message:received', undefined, { timeoutMs: 10_000 })
    await a.transport.send(b.transport.peerId, { hello: 'b' })
    expect(await atB).toEqual({ from: a.transport.peerId, payload: { hello: 'b' } })

    const gone = a.bus.waitFor('peer:disconnected', (e) => e.peerId === b.transport.peerId, { timeoutMs: 10_000 })
    await b.transport.disconnect(a.transport.peerId)
    await gone
    expect(a.transport.isConnected(b.transport.peerId)).toBe(false)
  })

  it('keeps the peer id and OrbitDB identity across a restart and refuses a second peer in the same repo', async () => {
    const tmp = await tempRepo('restart')
    cleanups.push(tmp.cleanup)
    const bus = createBus()
    const first = createTransport({ bus, repo: tmp.dir })
    await first.start()
    const id = first.peerId
    const identity = first.orbitdb.identity.id
    const db = await first.orbitdb.open('notes', { Database: KeyValue<string>() })
    await db.put('k', 'v')
    const address = db.address

    const second = createTransport({ bus: createBus(), repo: tmp.dir })
    await expect(second.start()).rejects.toBeInstanceOf(RepoLockedError)
    await expect(second.start()).rejects.toThrow(/in use by process/)

    await first.stop()
    await first.stop() // safe twice
    const again = createTransport({ bus, repo: tmp.dir })
    await again.start()
    cleanups.push(async () => { await again.stop() })
    expect(again.peerId).toBe(id)
    expect(again.orbitdb.identity.id).toBe(identity)
    const reopened = await again.orbitdb.open(address, { Database: KeyValue<string>() })
    expect(reopened.type).toBe('keyvalue')
    expect(await reopened.get('k')).toBe('v')
  })

  it('gives typed errors for an invalid multiaddr, an unreachable address and a self-dial', async () => {
    const a = await peer('errors')
    await expect(a.transport.connect('not a multiaddr')).rejects.toBeInstanceOf(InvalidMultiaddrError)
    await expect(a.transport.connect('/ip4/127.0.0.1/tcp/1')).rejects.toBeInstanceOf(PeerUnreachableError)
    await expect(a.transport.connect(a.transport.multiaddrs[0]!)).rejects.toBeInstanceOf(SelfDialError)
    const withoutId = a.transport.multiaddrs[0]!.replace(/\/p2p\/.*$/, '')
    await expect(a.transport.connect(withoutId)).rejects.toBeInstanceOf(SelfDialError)
    await expect(a.transport.send(a.transport.peerId, { x: 'x'.repeat(MAX_MESSAGE_BYTES) })).rejects.toBeInstanceOf(MessageTooLargeError)
  })

  it('fails send() with a typed error when the receiver never subscribes', async () => {
    const a = await peer('nosub')
    const b = await peer('nosub-b')
    await b.transport.connect(a.transport.multiaddrs[0]!)
    // a real peer id that is not connected and never subscribes
    const stranger = (await peer('stranger')).transport.peerId
    await expect(b.transport.send(stranger, { hi: 1 }, { timeoutMs: 300 })).rejects.toBeInstanceOf(PeerNotSubscribedError)
  })

  it('rejects malformed, non-object and oversized messages and still receives a valid one', async () => {
    const a = await peer('rej-a')
    const b = await peer('rej-b')
    await b.transport.connect(a.transport.multiaddrs[0]!)
    await b.transport.send(a.transport.peerId, { warmup: true }) // waits until a is subscribed
    const rejected: Array<{ reason: string, from: string | undefined }> = []
    a.bus.on('message:rejected', (e) => rejected.push(e))
    const pubsub = b.transport.libp2p.services.pubsub
    const raw = (text: string): Uint8Array => new TextEncoder().encode(text)
    await pubsub.publish(a.transport.peerId, raw('{not json'))
    await pubsub.publish(a.transport.peerId, new Uint8Array([0xff, 0xfe, 0x00]))
    await pubsub.publish(a.transport.peerId, raw('[1,2,3]'))
    await pubsub.publish(a.transport.peerId, raw('"just a string"'))
    await pubsub.publish(a.transport.peerId, raw(JSON.stringify({ big: 'x'.repeat(MAX_MESSAGE_BYTES) })))
    const valid = a.bus.waitFor('message:received', (e) => e.payload.ok === true, { timeoutMs: 10_000 })
    await b.transport.send(a.transport.peerId, { ok: true })
    await valid
    expect(rejected.map((r) => r.reason).sort()).toEqual(['not-json', 'not-json', 'not-object', 'not-object', 'too-large'])
    expect(rejected.every((r) => r.from === b.transport.peerId)).toBe(true)
    expect(a.transport.isStarted()).toBe(true)
  })
})

describe('transport across OS processes', () => {
  it('connects to a peer in another process and exchanges messages both ways, then the child exits with no handle left', async () => {
    const a = await peer('proc-a')
    const tmp = await tempRepo('proc-b')
    cleanups.push(tmp.cleanup)
    const child = new PeerProcess(tmp.dir)
    cleanups.push(async () => { if (child.child.exitCode == null) child.child.kill('SIGKILL') })
    const ready = await child.next('ready')

    const atA = a.bus.waitFor('message:received', undefined, { timeoutMs: 15_000 })
    child.command({ cmd: 'connect', addr: a.transport.multiaddrs[0] })
    await child.next('connected')
    child.command({ cmd: 'send', to: a.transport.peerId, message: { from: 'child' } })
    expect(await atA).toEqual({ from: ready.peerId, payload: { from: 'child' } })

    await a.transport.send(String(ready.peerId), { from: 'parent' })
    const got = await child.next('message:received')
    expect(got.payload).toEqual({ from: 'parent' })
    expect(got.from).toBe(a.transport.peerId)

    child.command({ cmd: 'stop' })
    const stopped = await child.next('stopped')
    expect(stopped.resources).toEqual([])
    // nothing keeps it alive: it exits on its own, without being killed
    expect(await child.exited).toBe(0)
    console.log(`child exited ${Date.now() - Number(stopped.at)} ms after stop() resolved`)
  })
})

describe('own databases', () => {
  it('opens an own database at the same address every time, writable only by our identity', async () => {
    const a = await peer('own')
    const { openOwnDatabase, Documents, KeyValue, OWN_DATABASES, readManifest } = await import('../src/index.js')
    const first = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    const again = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    expect(again.address).toBe(first.address)
    expect(first.access.write).toEqual([a.transport.orbitdb.identity.id])
    expect(first.indexBy).toBe('hash')
    // the manifest says what the db is, so peers can check the type before opening it
    expect((await readManifest(a.transport.helia, first.address)).type).toBe('documents')
    const user = await openOwnDatabase(a.transport.orbitdb, OWN_DATABASES.user, KeyValue())
    expect((await readManifest(a.transport.helia, user.address)).type).toBe('keyvalue')
  })
})
