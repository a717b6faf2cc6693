import { createBus } from '@npp/bus'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createTransport, KeyValue, InvalidMultiaddrError, PeerUnreachableError, RepoLockedError, SelfDialError,
  MessageTooLargeError, PeerNotSubscribedError, InvalidTransportOptionError
} from '../src/index.js'
import { MAX_MESSAGE_BYTES } from '../src/messages.js'
import { onNotice } from '../src/console-filter.js'
import { forgeEntry, PeerProcess, tempRepo, waitSubscribed } from './helpers.js'
import type { Transport, TransportInit } from '../src/index.js'
import type { Bus } from '@npp/bus'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function peer (name: string, repo?: string, init: Partial<TransportInit> = {}): Promise<{ bus: Bus, transport: Transport, repo: string }> {
  let dir = repo
  if (dir == null) {
    const tmp = await tempRepo(name)
    cleanups.push(tmp.cleanup)
    dir = tmp.dir
  }
  const bus = createBus()
  const transport = createTransport({ bus, repo: dir, ...init })
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
    // nothing keeps it alive: it exits on its own, without being killed, within 2 s
    const code = await Promise.race([child.exited, new Promise<'still running'>((resolve) => setTimeout(() => { resolve('still running') }, 2_000).unref())])
    console.log(`child exited ${Date.now() - Number(stopped.at)} ms after stop() resolved`)
    expect(code).toBe(0)
  })
})

describe('liveness checks', () => {
  it('closes the connection to a peer that stops answering (SIGSTOP, no FIN) and reports peer:disconnected', async () => {
    const a = await peer('monitor', undefined, { connectionMonitor: { pingIntervalMs: 300, pingTimeoutMs: 600 } })
    const tmp = await tempRepo('frozen')
    cleanups.push(tmp.cleanup)
    const child = new PeerProcess(tmp.dir)
    cleanups.push(async () => { if (child.child.exitCode == null) { child.child.kill('SIGKILL'); await child.exited } })
    const ready = await child.next('ready')
    const connected = a.bus.waitFor('peer:connected', (e) => e.peerId === ready.peerId, { timeoutMs: 15_000 })
    child.command({ cmd: 'connect', addr: a.transport.multiaddrs[0] })
    await connected

    // a frozen process keeps its sockets open: only a ping that is not answered can tell
    const disconnected = a.bus.waitFor('peer:disconnected', (e) => e.peerId === ready.peerId, { timeoutMs: 10_000 })
    const frozenAt = performance.now()
    child.child.kill('SIGSTOP')
    await disconnected
    console.log(`a frozen peer was disconnected ${Math.round(performance.now() - frozenAt)} ms after SIGSTOP (ping every 300 ms, 600 ms timeout)`)
    expect(a.transport.isConnected(String(ready.peerId))).toBe(false)
    child.child.kill('SIGCONT')
  })

  it('refuses out-of-range liveness options with a typed error', () => {
    expect(() => createTransport({ bus: createBus(), repo: '/tmp/unused', connectionMonitor: { pingIntervalMs: 0 } })).toThrow(InvalidTransportOptionError)
    expect(() => createTransport({ bus: createBus(), repo: '/tmp/unused', connectionMonitor: { pingTimeoutMs: 1.5 } })).toThrow(/connectionMonitor.pingTimeoutMs/)
  })
})

describe('many peers behind one address', () => {
  it('still receives messages when 16 peers share an address (no IP colocation graylisting)', async () => {
    const { createLibp2p } = await import('libp2p')
    const { tcp } = await import('@libp2p/tcp')
    const { noise } = await import('@chainsafe/libp2p-noise')
    const { yamux } = await import('@chainsafe/libp2p-yamux')
    const { identify } = await import('@libp2p/identify')
    const { gossipsub } = await import('@libp2p/gossipsub')
    const a = await peer('crowded')
    // fifteen pubsub peers on 127.0.0.1, dialled by `a` (inbound connections are rate-limited per
    // address). gossipsub's default penalty is 5 x (peers - 10)^2 and graylists below -80: from 15 on
    for (let i = 0; i < 15; i++) {
      const node = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify(), pubsub: gossipsub() }
      })
      cleanups.push(async () => { await node.stop() })
      node.services.pubsub.subscribe('crowd')
      await a.transport.connect(node.getMultiaddrs()[0]!.toString())
    }
    // every one of them is a pubsub peer of `a` now (each told it about its subscription)
    await waitSubscribers(a.transport.libp2p.services.pubsub, 'crowd', 15)
    const b = await peer('sixteenth')
    // b's dial resolves when b is connected; a sees the inbound connection when it says so
    const connected = a.bus.waitFor('peer:connected', (e) => e.peerId === b.transport.peerId, { timeoutMs: 10_000 })
    await b.transport.connect(a.transport.multiaddrs[0]!)
    await connected
    expect(a.transport.peers().length).toBe(16)
    const received = a.bus.waitFor('message:received', (e) => e.from === b.transport.peerId, { timeoutMs: 10_000 })
    await b.transport.send(a.transport.peerId, { hello: 'from behind the same address' })
    expect((await received).payload).toEqual({ hello: 'from behind the same address' })
  })
})

describe('own databases', () => {
  it('opens an own database at the same address every time, writable only by our identity', async () => {
    const a = await peer('own')
    const { openOwnDatabase, Documents, KeyValue, OWN_DATABASES } = await import('../src/index.js')
    const { readManifest } = await import('../src/blocks.js')
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

  it("refuses an entry that names the owner's identity but is signed with another key, on the owner and on a replica", async () => {
    // OrbitDB 4.0.0 checks write access against entry.identity but the signature against
    // entry.key: without our access controller's extra check this entry would be accepted
    const { openOwnDatabase, Documents, OWN_DATABASES } = await import('../src/index.js')
    const owner = await peer('owner')
    const mallory = await peer('mallory')
    const pieces = await openOwnDatabase(owner.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    await pieces.put({ hash: 'real', instrument: 'oboe' })
    await mallory.transport.connect(owner.transport.multiaddrs[0]!)
    // mallory's replica (opened by address: its access controller comes from OrbitDB's registry)
    const replica = await mallory.transport.orbitdb.open(pieces.address, { Database: Documents({ indexBy: 'hash' }) })
    const pubsub = mallory.transport.libp2p.services.pubsub
    await waitSubscribed(pubsub, pieces.address, owner.transport.peerId)

    const victim = owner.transport.orbitdb.identity
    const payload = { op: 'PUT', key: 'forged', value: { hash: 'forged', instrument: 'kazoo' } }
    const forged = await forgeEntry('claimed-identity', pieces, victim, mallory.transport.orbitdb.identity, payload)

    // on the replica: joining it directly is refused
    const log = replica.log as typeof replica.log & { joinEntry(entry: unknown): Promise<boolean> }
    await expect(log.joinEntry({ ...forged.entry, hash: forged.hash, bytes: forged.bytes })).rejects.toThrow(/not allowed to write/)
    expect(await replica.log.has(forged.hash)).toBe(false)

    // on the owner: published on the db's topic, rejected by the topic's gossipsub validator
    // before OrbitDB sees it (the key is not the owner's), counted by the transport
    const refused = new Promise<string>((resolve) => {
      const off = onNotice((notice) => {
        if (notice.source === 'pubsub' && notice.kind === 'key-mismatch') { off(); resolve(notice.detail) }
      })
    })
    await pubsub.publish(pieces.address, forged.bytes)
    expect(await refused).toContain(pieces.address)
    expect(await pieces.log.has(forged.hash)).toBe(false)
    expect((await pieces.all()).map((d) => d.value.hash)).toEqual(['real'])

    // the owner's own writes still replicate
    const second = await pieces.put({ hash: 'second', instrument: 'oboe' })
    await new Promise<void>((resolve) => {
      const check = (): void => {
        void replica.log.has(second).then((has) => { if (has) { replica.events.off('update', check); resolve() } })
      }
      replica.events.on('update', check)
      check()
    })
    expect((await replica.all()).map((d) => d.value.hash).sort()).toEqual(['real', 'second'])
  })
})

/** Resolve once `count` peers are subscribed to `topic` as far as `pubsub` knows (event-driven) */
async function waitSubscribers (pubsub: Transport['libp2p']['services']['pubsub'], topic: string, count: number): Promise<void> {
  const has = (): boolean => pubsub.getSubscribers(topic).length >= count
  if (has()) return
  await new Promise<void>((resolve) => {
    const onChange = (): void => { if (has()) { pubsub.removeEventListener('subscription-change', onChange); resolve() } }
    pubsub.addEventListener('subscription-change', onChange)
  })
}
