import { chmod, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import * as dagCbor from '@ipld/dag-cbor'
import { multiaddr } from '@multiformats/multiaddr'
import { createBus } from '@npp/bus'
import { createLibp2p } from 'libp2p'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { createTransport, DialTimeoutError, NotStartedError, PeerUnreachableError, RepoLockedError } from '../src/index.js'
import { tempRepo } from './helpers.js'
import type { Transport } from '../src/index.js'
import type { Server, Socket } from 'node:net'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function started (name: string): Promise<{ transport: Transport, bus: ReturnType<typeof createBus> }> {
  const tmp = await tempRepo(name)
  cleanups.push(tmp.cleanup)
  const bus = createBus()
  const transport = createTransport({ bus, repo: tmp.dir })
  await transport.start()
  cleanups.push(async () => { await transport.stop() })
  return { transport, bus }
}

describe('transport edge cases', () => {
  it('gives DialTimeoutError when the other side accepts TCP but never speaks', async () => {
    const { transport } = await started('timeout')
    // a loopback socket that accepts connections and then says nothing
    const sockets = new Set<Socket>()
    const server: Server = createServer((socket) => { sockets.add(socket) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    })
    const { port } = server.address() as { port: number }
    const silent = `/ip4/127.0.0.1/tcp/${port}/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN`
    const err = await transport.connect(silent, { timeoutMs: 300 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DialTimeoutError)
    expect((err as Error).name).toBe('DialTimeoutError')
    expect((err as Error).message).toMatch(/did not finish within 300 ms/)
  })

  it('drops unsigned pubsub messages before they reach anyone, and keeps receiving signed ones', async () => {
    const { transport, bus } = await started('unsigned')
    // a peer whose gossipsub does not sign (StrictNoSign), built directly on libp2p
    const rogue = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true }) }
    })
    cleanups.push(async () => { await rogue.stop() })
    const seen: string[] = []
    bus.on('message:received', () => seen.push('received'))
    bus.on('message:rejected', (e) => seen.push(`rejected:${e.reason}`))
    await rogue.dial(multiaddr(transport.multiaddrs[0]!))
    const topic = transport.peerId
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (rogue.services.pubsub.getSubscribers(topic).some((p) => p.toString() === topic)) {
          rogue.services.pubsub.removeEventListener('subscription-change', check)
          resolve()
        }
      }
      rogue.services.pubsub.addEventListener('subscription-change', check)
      check()
    })
    for (let i = 0; i < 5; i++) await rogue.services.pubsub.publish(topic, new TextEncoder().encode(JSON.stringify({ unsigned: i })))
    // a signed message sent after them arrives, and nothing of the unsigned ones did
    const other = await started('unsigned-sender')
    await other.transport.connect(transport.multiaddrs[0]!)
    const valid = bus.waitFor('message:received', (e) => e.payload.signed === true, { timeoutMs: 10_000 })
    await other.transport.send(topic, { signed: true })
    await valid
    expect(seen).toEqual(['received'])
    expect(transport.isStarted()).toBe(true)
  })

  it('lets only one of two transports started at once on the same repo run', async () => {
    const tmp = await tempRepo('race')
    cleanups.push(tmp.cleanup)
    const a = createTransport({ bus: createBus(), repo: tmp.dir })
    const b = createTransport({ bus: createBus(), repo: tmp.dir })
    const results = await Promise.allSettled([a.start(), b.start()])
    cleanups.push(async () => { await a.stop(); await b.stop() })
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const failed = results.find((r) => r.status === 'rejected')
    expect(failed?.status === 'rejected' ? failed.reason : undefined).toBeInstanceOf(RepoLockedError)
  })

  it('settles the db opens under way before its stop returns, and refuses opens after it', async () => {
    const { transport } = await started('stop-while-opening')
    // a manifest nobody has (the open waits on the network), and a db of our own (the open
    // creates its LevelDB stores)
    const missing = `/orbitdb/${CID.createV1(dagCbor.code, await sha256.digest(new TextEncoder().encode('nobody has this db'))).toString(base58btc)}`
    const { orbitdb } = transport
    const settled: string[] = []
    const opens = [missing, 'a-db-of-our-own'].map((address) => orbitdb.open(address).finally(() => { settled.push(address) }))
    for (const open of opens) open.catch(() => {})
    await transport.stop()
    // before: an open went on after the stop and created its LevelDB stores in a repo its
    // owner was already removing (ENOTEMPTY in the discovery benchmark)
    expect(settled.sort()).toEqual([missing, 'a-db-of-our-own'].sort())
    await expect(opens[0]).rejects.toThrow()
    await expect(orbitdb.open(missing)).rejects.toBeInstanceOf(NotStartedError)
  })

  it('keeps the repo folder (our signing keys) to ourselves: 0700 on every start, also for a repo made readable before', async () => {
    const tmp = await tempRepo('mode')
    cleanups.push(tmp.cleanup)
    await chmod(tmp.dir, 0o755)
    const t = createTransport({ bus: createBus(), repo: tmp.dir })
    cleanups.push(async () => { await t.stop() })
    await t.start()
    expect((await stat(tmp.dir)).mode & 0o777).toBe(0o700)
  })
})

describe('dial policy (the network rule)', () => {
  it('dials an address a peer only advertised under the policy, never as the user\'s choice', async () => {
    const tmp = await tempRepo('advertised')
    cleanups.push(tmp.cleanup)
    const t = createTransport({ bus: createBus(), repo: tmp.dir })
    cleanups.push(async () => { await t.stop() })
    await t.start()
    // 192.0.2.0/24 is TEST-NET-1: the gater refuses it before any packet leaves (loopback-only policy)
    const advertised = '/ip4/192.0.2.1/tcp/22/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    expect(t.diagnostics().deniedDials).toEqual({ count: 0, recent: [] })
    const err = await t.connect(advertised, { advertised: true, timeoutMs: 2_000 }).catch((e: unknown) => e as Error)
    expect(err).toBeInstanceOf(PeerUnreachableError)
    expect(String((err as Error & { cause?: Error }).cause?.name)).toMatch(/Denied/)
    // counted by the transport (per transport), with the address
    expect(t.diagnostics().deniedDials).toEqual({ count: 1, recent: [advertised] })
    // an advertised loopback address passes the policy: dialled (nobody listens on port 1), not counted
    const loopback = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    const refused = await t.connect(loopback, { advertised: true, timeoutMs: 2_000 }).catch((e: unknown) => e as Error)
    expect(refused).toBeInstanceOf(PeerUnreachableError)
    expect(String((refused as Error & { cause?: Error }).cause?.name)).not.toMatch(/Denied/)
    expect(t.diagnostics().deniedDials).toEqual({ count: 1, recent: [advertised] })
  })

  it('dials only loopback by default, and anything once the user configured a wider address', async () => {
    const { defaultDialPolicy, isLoopback } = await import('../src/node.js')
    expect(isLoopback(multiaddr('/ip4/127.0.0.1/tcp/1'))).toBe(true)
    expect(isLoopback(multiaddr('/ip4/127.8.9.10/tcp/1/ws'))).toBe(true)
    expect(isLoopback(multiaddr('/ip6/::1/tcp/1'))).toBe(true)
    expect(isLoopback(multiaddr('/ip4/10.0.0.1/tcp/1'))).toBe(false)
    expect(isLoopback(multiaddr('/ip4/128.0.0.1/tcp/1'))).toBe(false)
    expect(isLoopback(multiaddr('/dns4/localhost/tcp/1'))).toBe(false)
    expect(defaultDialPolicy(['/ip4/127.0.0.1/tcp/0'], 'none')).toBe('loopback')
    expect(defaultDialPolicy(['/ip4/127.0.0.1/tcp/0'], ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'])).toBe('loopback')
    expect(defaultDialPolicy(['/ip4/0.0.0.0/tcp/0'], 'none')).toBe('any')
    expect(defaultDialPolicy(['/ip4/127.0.0.1/tcp/0'], 'public')).toBe('any')
  })
})
