import { Documents, OWN_DATABASES, KeyValue, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import {
  CatalogNotStartedError, InvalidCatalogOptionError, InvalidHashError, InvalidPieceError, InvalidProfileFieldError, InvalidQueryError, PieceNotFoundError,
  ProtectedFieldError, createCatalog
} from '../src/index.js'
import { cidOf, runCleanups, startPeer } from './helpers.js'
import type { BusEvents } from '@npp/bus'
import type { Logger } from '@npp/transport'
import type { AnyActorRef, InspectionEvent } from 'xstate'

afterEach(runCleanups)

describe('our catalog on one peer', () => {
  it('adds, reads, updates and removes pieces with the same result as the Documents db, and emits catalog:changed', async () => {
    const me = await startPeer('solo')
    const changes: Array<BusEvents['catalog:changed']> = []
    me.bus.on('catalog:changed', (e) => changes.push(e))
    const [h1, h2, h3] = await Promise.all([cidOf('one'), cidOf('two'), cidOf('three')])

    const p1 = await me.catalog.add({ hash: h1, instrument: 'Violin', title: 'Partita No. 2', composer: 'J. S. Bach', addedAt: 1 })
    expect(p1).toEqual({ hash: h1, instrument: 'Violin', title: 'Partita No. 2', composer: 'J. S. Bach', addedAt: 1 })
    await me.catalog.add({ hash: h2, instrument: 'cello', title: 'Suite No. 1', addedAt: 2 })
    await me.catalog.add({ hash: h3, instrument: 'violin ', title: 'Caprice 24', addedAt: 3 })
    expect(await me.catalog.get(h1)).toEqual(p1)
    expect((await me.catalog.byInstrument('VIOLIN')).map((p) => p.hash)).toEqual([h1, h3])
    expect((await me.catalog.all()).map((p) => p.hash)).toEqual([h1, h2, h3])

    // upsert by hash keeps addedAt unless given
    const replaced = await me.catalog.add({ hash: h2, instrument: 'Viola', title: 'Suite No. 1 (viola)' })
    expect(replaced.addedAt).toBe(2)
    expect((await me.catalog.byInstrument('cello'))).toEqual([])
    const updated = await me.catalog.update(h1, { notes: 'slow movement first', title: undefined })
    expect(updated).toEqual({ hash: h1, instrument: 'Violin', composer: 'J. S. Bach', notes: 'slow movement first', addedAt: 1 })
    expect(await me.catalog.remove(h3)).toBe(true)
    expect(await me.catalog.remove(h3)).toBe(false)
    expect(await me.catalog.get(h3)).toBeUndefined()

    // the index agrees with what OrbitDB's Documents db says (a full log scan)
    const db = await openOwnDatabase(me.transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    const scanned = (await db.all()).map((d) => d.value).sort((a, b) => Number(a.addedAt) - Number(b.addedAt))
    expect(await me.catalog.all()).toEqual(scanned)
    expect(db.address).toBe(me.catalog.piecesAddress)

    expect(changes).toEqual([
      { hash: h1, change: 'added' }, { hash: h2, change: 'added' }, { hash: h3, change: 'added' },
      { hash: h2, change: 'updated' }, { hash: h1, change: 'updated' }, { hash: h3, change: 'removed' }
    ])
  })

  it('refuses invalid pieces, patches, hashes and queries with typed errors', async () => {
    const me = await startPeer('invalid')
    const hash = await cidOf('valid')
    const err = await me.catalog.add({ hash: 'not-a-cid', instrument: '  ' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidPieceError)
    expect((err as InvalidPieceError).name).toBe('InvalidPieceError')
    expect((err as InvalidPieceError).issues.map((i) => i.path.join('.')).sort()).toEqual(['hash', 'instrument'])
    await expect(me.catalog.add({ hash, instrument: 'flute', title: 'x'.repeat(10_000) })).rejects.toThrow(/title/)
    await expect(me.catalog.add({ hash, instrument: 'flute', extra: 1 } as never)).rejects.toBeInstanceOf(InvalidPieceError)
    await expect(me.catalog.update(hash, { instrument: 'flute' })).rejects.toBeInstanceOf(PieceNotFoundError)
    await me.catalog.add({ hash, instrument: 'flute' })
    await expect(me.catalog.update(hash, { instrument: '' })).rejects.toBeInstanceOf(InvalidPieceError)
    await expect(me.catalog.update(hash, { hash } as never)).rejects.toBeInstanceOf(InvalidPieceError)
    await expect(me.catalog.practise('nope')).rejects.toBeInstanceOf(InvalidHashError)
    expect(() => me.catalog.query({ limit: 0 })).toThrow(InvalidQueryError)
    expect(await me.catalog.all()).toEqual([{ hash, instrument: 'flute', addedAt: expect.any(Number) }])
  })

  it('writes the required profile fields on start, and reads and writes the others but never the system fields', async () => {
    const me = await startPeer('profile')
    // what the catalog writes on first start: a random username, our pieces db, our peer id
    expect(await me.catalog.profile.all()).toEqual({ username: expect.stringMatching(/^musician-\d{6}$/), pieces: me.catalog.piecesAddress, nodeId: me.transport.peerId })
    const user = await openOwnDatabase(me.transport.orbitdb, OWN_DATABASES.user, KeyValue())
    expect(me.catalog.userDbAddress).toBe(user.address)

    await me.catalog.profile.set('username', 'clara')
    await me.catalog.profile.set('instruments', ['piano', 'violin'])
    expect(await me.catalog.profile.get('username')).toBe('clara')
    await expect(me.catalog.profile.set('pieces', '/orbitdb/zdpuFake')).rejects.toBeInstanceOf(ProtectedFieldError)
    await expect(me.catalog.profile.delete('nodeId')).rejects.toBeInstanceOf(ProtectedFieldError)
    await expect(me.catalog.profile.set('bio', () => 1)).rejects.toBeInstanceOf(InvalidProfileFieldError)
    await expect(me.catalog.profile.set('', 1)).rejects.toBeInstanceOf(InvalidProfileFieldError)
    await me.catalog.profile.delete('instruments')
    expect(await me.catalog.profile.all()).toEqual({ pieces: me.catalog.piecesAddress, nodeId: me.transport.peerId, username: 'clara' })
  })

  it('adds a score to IPFS, reads it back, and counts practice sessions', async () => {
    const me = await startPeer('score')
    const bytes = new TextEncoder().encode('%PDF-1.4 a tiny score')
    const hash = await me.catalog.addScore(bytes)
    expect(hash).toMatch(/^bafk/)
    expect(await me.catalog.addScore(bytes)).toBe(hash)
    expect(await me.catalog.readScore(hash)).toEqual(bytes)
    await me.catalog.add({ hash, instrument: 'piano' })
    expect(await me.catalog.practiceCount(hash)).toBe(0)
    const practised = me.bus.waitFor('catalog:changed', (e) => e.change === 'practised', { timeoutMs: 5000 })
    expect(await me.catalog.practise(hash)).toBe(1)
    expect(await practised).toEqual({ hash, change: 'practised' })
    expect(await me.catalog.practise(hash)).toBe(2)
    expect(await me.catalog.practiceCount(hash)).toBe(2)
  })

  it('picks random pieces of the asked instrument only, and every one of them over many draws', async () => {
    const me = await startPeer('random')
    const violins = new Set<string>()
    for (let i = 0; i < 5; i++) {
      const v = await cidOf(`violin-${i}`)
      violins.add(v)
      await me.catalog.add({ hash: v, instrument: 'violin', title: `V${i}` })
      await me.catalog.add({ hash: await cidOf(`cello-${i}`), instrument: 'cello' })
    }
    const drawn = new Set<string>()
    for (let i = 0; i < 300; i++) {
      const piece = await me.catalog.random({ instrument: 'Violin' })
      expect(piece?.instrument).toBe('violin')
      drawn.add(piece!.hash)
    }
    // P(one of 5 never drawn in 300 uniform draws) = 5 * 0.8^300, about 1e-28
    expect(drawn).toEqual(violins)
    expect(await me.catalog.random({ instrument: 'tuba' })).toBeUndefined()
    expect((await me.catalog.random())).toBeDefined()
  })

  it('runs every write as a child actor of its machine; stop() waits for the writes under way and refuses new ones', async () => {
    const spawned: string[] = []
    const inspect = (e: InspectionEvent): void => { if (e.type === '@xstate.actor') spawned.push((e.actorRef as AnyActorRef).id) }
    const me = await startPeer('writes', { catalog: { inspect } })
    const [h1, h2, h3] = await Promise.all([cidOf('w1'), cidOf('w2'), cidOf('w3')])
    // five writes at once, then a stop without waiting for them
    const writes = Promise.all([
      me.catalog.add({ hash: h1, instrument: 'horn' }),
      me.catalog.add({ hash: h2, instrument: 'horn' }),
      me.catalog.practise(h1),
      me.catalog.profile.set('username', 'hornist'),
      me.catalog.addScore(new TextEncoder().encode('a horn call'))
    ])
    expect(Object.keys(me.catalog.actor.getSnapshot().context.writes)).toHaveLength(5)
    const stopped = me.catalog.stop()
    expect(me.catalog.actor.getSnapshot().matches({ stopping: 'draining' })).toBe(true)
    await expect(me.catalog.add({ hash: h3, instrument: 'horn' })).rejects.toBeInstanceOf(CatalogNotStartedError)
    await expect(me.catalog.profile.delete('username')).rejects.toBeInstanceOf(CatalogNotStartedError)
    const [p1, p2, practised, set, score] = await writes
    await stopped
    expect([p1.hash, p2.hash, practised, set, score]).toEqual([h1, h2, 1, undefined, expect.stringMatching(/^bafk/)])
    expect(spawned.filter((id) => id.startsWith('write-'))).toEqual(['write-1', 'write-2', 'write-3', 'write-4', 'write-5'])
    expect(me.catalog.actor.getSnapshot().context.writes).toEqual({})
    // ended writes do not stay among the machine's children (nor do ended queries)
    await me.catalog.start()
    await me.catalog.query().done
    expect(Object.keys(me.catalog.actor.getSnapshot().children).filter((id) => /^(write|query)-/.test(id))).toEqual([])
    await me.catalog.stop()

    // every write reached the dbs before they closed
    await me.catalog.start()
    expect((await me.catalog.all()).map((p) => p.hash).sort()).toEqual([h1, h2].sort())
    expect(await me.catalog.practiceCount(h1)).toBe(1)
    expect(await me.catalog.profile.get('username')).toBe('hornist')
    expect(await me.catalog.get(h3)).toBeUndefined()
  })

  it('logs through the logger it is given, and refuses out-of-range options', async () => {
    const lines: string[] = []
    const logger: Logger = Object.assign((format: string, ...args: unknown[]) => { lines.push([format, ...args].join(' ')) }, {
      error: (format: string) => { lines.push(`error: ${format}`) },
      trace: () => {},
      enabled: true,
      newScope: () => logger
    })
    const me = await startPeer('logger', { catalog: { logger } })
    expect(lines).toContainEqual(expect.stringContaining(`started; pieces db %s ${me.catalog.piecesAddress}`))
    const { createBus } = await import('@npp/bus')
    const bus = createBus()
    expect(() => createCatalog({ bus, transport: me.transport, replicas: { openTimeoutMs: 0 } })).toThrow(InvalidCatalogOptionError)
    expect(() => createCatalog({ bus, transport: me.transport, defaultQueryTimeoutMs: 1.5 })).toThrow(/defaultQueryTimeoutMs/)
    // a byte quota from 64 KiB to 16 GiB
    expect(() => createCatalog({ bus, transport: me.transport, replicas: { maxBytes: 1024 } })).toThrow(/replicas\.maxBytes/)
    expect(() => createCatalog({ bus, transport: me.transport, replicas: { maxBytes: 2 ** 40 } })).toThrow(/replicas\.maxBytes/)
  })

  it('is Startable: start/stop twice are safe, the API refuses while stopped, and it starts again', async () => {
    const me = await startPeer('lifecycle')
    const hash = await cidOf('kept')
    await me.catalog.add({ hash, instrument: 'harp' })
    await me.catalog.start()
    await me.catalog.stop()
    await me.catalog.stop()
    await expect(me.catalog.all()).rejects.toBeInstanceOf(CatalogNotStartedError)
    expect(() => me.catalog.query()).toThrow(CatalogNotStartedError)
    await me.catalog.start()
    expect(await me.catalog.get(hash)).toEqual({ hash, instrument: 'harp', addedAt: expect.any(Number) })

    // stopping the transport first (it closes every db) still lets the catalog stop cleanly
    await me.transport.stop()
    await me.catalog.stop()
    expect(me.catalog.actor.getSnapshot().value).toBe('stopped')

    // a catalog whose transport is not started fails with the transport's error
    const { createBus } = await import('@npp/bus')
    const { createTransport } = await import('@npp/transport')
    const bus = createBus()
    const idle = createCatalog({ bus, transport: createTransport({ bus, repo: me.repo + '-never' }) })
    await expect(idle.start()).rejects.toThrow(/transport is not online/)
    expect(idle.actor.getSnapshot().value).toBe('failed')
  })
})
