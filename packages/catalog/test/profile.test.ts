/**
 * Our profile: the catalog writes every required field that is missing on
 * start (ported from discovery's tests of `ensureProfile`, which the catalog
 * took over), and never overwrites the user's own fields.
 */
import { createBus } from '@npp/bus'
import { recordingLogger } from '@npp/testkit'
import { KeyValue, OWN_DATABASES, createTransport, openOwnDatabase } from '@npp/transport'
import { afterEach, describe, expect, it } from 'vitest'
import { CatalogNotStartedError, InvalidCatalogOptionError, PROTECTED_PROFILE_FIELDS, REQUIRED_PROFILE_FIELDS, createCatalog } from '../src/index.js'
import { completeProfile } from '../src/profile.js'
import { cleanups, runCleanups, startPeer, tempRepo } from './helpers.js'
import type { Catalog, CatalogInit } from '../src/index.js'
import type { KeyValueDatabase, Transport } from '@npp/transport'

afterEach(runCleanups)

const RANDOM_NAME = /^musician-\d{6}$/
const OTHER_PEER = '12D3KooWHSdvcoZKmWSa8WyKVqFFHmWEJeD1pyb3i1RBcqX2ZUrW'

/** A KeyValue db in memory whose `put` can be made to fail after `failAfter` writes (a crash mid-start) */
function memoryDb (fields: Record<string, unknown> = {}) {
  const data = new Map(Object.entries(fields))
  const db = {
    failAfter: Infinity,
    puts: [] as string[],
    all: async () => [...data].map(([key, value]) => ({ key, value, hash: key })),
    put: async (key: string, value: unknown) => {
      if (db.puts.length >= db.failAfter) throw new Error('crashed')
      db.puts.push(key)
      data.set(key, value)
      return key
    },
    fields: () => Object.fromEntries(data)
  }
  return db
}

describe('completeProfile', () => {
  const own = { pieces: '/orbitdb/zdpuOurPieces', nodeId: '12D3KooWOurs' }

  it('writes each missing field on its own, so a start that crashed halfway is completed by the next one', async () => {
    const db = memoryDb()
    db.failAfter = 1
    await expect(completeProfile(db, { ...own, fixture: { username: 'clara' } })).rejects.toThrow('crashed')
    expect(db.fields()).toEqual({ username: 'clara' })
    db.failAfter = Infinity
    expect(await completeProfile(db, { ...own, fixture: { username: 'other' } })).toEqual(['pieces', 'nodeId'])
    expect(db.fields()).toEqual({ username: 'clara', ...own })
    // complete: nothing more to write
    expect(await completeProfile(db, own)).toEqual([])
  })

  it('keeps a username the user set, replaces one that is not a non-empty string, and repairs pieces and nodeId', async () => {
    const kept = memoryDb({ username: 'alice', pieces: '/orbitdb/zdpuSomeoneElses', nodeId: OTHER_PEER })
    expect(await completeProfile(kept, { ...own, fixture: { username: 'fixture' } })).toEqual(['pieces', 'nodeId'])
    expect(kept.fields()).toEqual({ username: 'alice', ...own })
    for (const username of ['', '   ', 42, null]) {
      const db = memoryDb({ username, ...own })
      expect(await completeProfile(db, own)).toEqual(['username'])
      expect(db.fields().username).toMatch(RANDOM_NAME)
    }
  })

  it('writes the other fixture fields only when missing, and never takes system fields from the fixture', async () => {
    const db = memoryDb({ instrument: 'viola' })
    await completeProfile(db, { ...own, fixture: { instrument: 'cello', city: 'Graz', pieces: '/orbitdb/zdpuFake', nodeId: OTHER_PEER } })
    expect(db.fields()).toEqual({ instrument: 'viola', city: 'Graz', username: expect.stringMatching(RANDOM_NAME), ...own })
  })

  it('has one list of fields: username, pieces and nodeId are required; pieces and nodeId are the system\'s', () => {
    expect(REQUIRED_PROFILE_FIELDS).toEqual(['username', 'pieces', 'nodeId'])
    expect(PROTECTED_PROFILE_FIELDS).toEqual(['pieces', 'nodeId'])
  })
})

/** A started transport on 127.0.0.1 (stopped after the test) with our user db */
async function startTransport (name: string, repo?: string): Promise<{ transport: Transport, user: KeyValueDatabase, repo: string }> {
  const dir = repo ?? await tempRepo(name)
  const transport = createTransport({ bus: createBus(), repo: dir })
  await transport.start()
  cleanups.add(async () => { await transport.stop() })
  const user = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.user, KeyValue())
  return { transport, user, repo: dir }
}

/** A catalog on `transport`, started, stopped after the test */
async function startCatalog (transport: Transport, init: Partial<CatalogInit> = {}): Promise<Catalog> {
  const catalog = createCatalog({ bus: createBus(), transport, ...init })
  await catalog.start()
  cleanups.add(async () => { await catalog.stop() })
  return catalog
}

const fieldsOf = async (user: KeyValueDatabase): Promise<Record<string, unknown>> => Object.fromEntries((await user.all()).map((e) => [e.key, e.value]))

describe('our profile, written by the catalog', () => {
  it('a fresh catalog writes username, pieces and nodeId (and the fixture), on first start only', async () => {
    const { transport, user } = await startTransport('fresh')
    const first = createCatalog({ bus: createBus(), transport, profile: { instrument: 'flute' } })
    expect(() => first.userDbAddress).toThrow(CatalogNotStartedError)
    await first.start()
    expect(first.userDbAddress).toBe(user.address)
    const profile = await fieldsOf(user)
    expect(profile).toEqual({ instrument: 'flute', username: expect.stringMatching(RANDOM_NAME), pieces: first.piecesAddress, nodeId: transport.peerId })
    expect(await first.profile.all()).toEqual(profile)
    await first.stop()
    expect(() => first.userDbAddress).toThrow(CatalogNotStartedError)

    // started again (another instance, another fixture): same db, nothing rewritten
    const again = await startCatalog(transport, { profile: { instrument: 'oboe', username: 'other' } })
    expect(again.userDbAddress).toBe(user.address)
    expect(await fieldsOf(user)).toEqual(profile)
  })

  it('a username set by the user survives a restart of the whole peer', async () => {
    const first = await startPeer('renamed', { catalog: { profile: { username: 'fixture' } } })
    expect(await first.catalog.profile.get('username')).toBe('fixture')
    await first.catalog.profile.set('username', 'clara')
    await first.catalog.stop()
    await first.transport.stop()

    const back = await startPeer('renamed', { repo: first.repo, catalog: { profile: { username: 'fixture' } } })
    expect(await back.catalog.profile.all()).toEqual({ username: 'clara', pieces: back.catalog.piecesAddress, nodeId: back.transport.peerId })
  })

  it('completes a partial profile field by field on the next start: keeps the user\'s username and fields, adds pieces, repairs nodeId', async () => {
    const { transport, user } = await startTransport('partial')
    // as left by a start that crashed between two writes, with a nodeId of another peer
    await user.put('username', 'alice')
    await user.put('nodeId', OTHER_PEER)
    await user.put('instrument', 'viola')
    const logger = recordingLogger()
    const profile = { username: 'fixture', instrument: 'cello', city: 'Graz' }
    let catalog = await startCatalog(transport, { profile, logger })
    const expected = { username: 'alice', instrument: 'viola', city: 'Graz', pieces: catalog.piecesAddress, nodeId: transport.peerId }
    expect(await fieldsOf(user)).toEqual(expected)
    // the injected logger is the one the catalog logs to
    expect(logger.lines.map((l) => String(l[0]))).toEqual(expect.arrayContaining([expect.stringMatching(/^wrote %s to our profile/), expect.stringMatching(/^started/)]))
    await catalog.stop()

    // a profile that lost a field gets it back on the next start, and nothing else changes
    await user.del('pieces')
    catalog = await startCatalog(transport, { profile })
    expect(await fieldsOf(user)).toEqual(expected)
  })

  it('refuses a fixture with system fields or values that are not JSON', async () => {
    const { transport } = await startTransport('refused')
    for (const profile of [{ pieces: '/orbitdb/zdpuFake' }, { nodeId: OTHER_PEER }, { bio: () => 1 }, { '': 1 }]) {
      expect(() => createCatalog({ bus: createBus(), transport, profile }), JSON.stringify(Object.keys(profile))).toThrow(InvalidCatalogOptionError)
    }
  })
})
