import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { IDENTITY_MISS_TTL_MS, WriterCheck } from '../src/writer-check.js'
import type { WriterCheckDeps } from '../src/writer-check.js'
import { readBlock } from '../src/blocks.js'
import { writerCheckDeps } from '../src/access-controller.js'

const cidOf = async (text: string): Promise<string> => CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(text))).toString()

/** Blocks we have, identities they hold; fetches of anything else never arrive (until aborted) */
function fakes (local: Record<string, { id: string, publicKey: string }>, overrides: Partial<WriterCheckDeps> = {}): WriterCheckDeps & { fetched: string[], clock: { now: number } } {
  const fetched: string[] = []
  const clock = { now: 0 }
  return {
    write: ['owner-id'],
    has: async (cid) => local[cid.toString()] != null,
    fetch: async (cid, signal) => {
      fetched.push(cid.toString())
      await new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }) })
    },
    getIdentity: async (hash) => local[hash],
    now: () => clock.now,
    fetched,
    clock,
    ...overrides
  }
}

describe('who wrote an entry, without waiting on the network where we can', () => {
  it('in our own owner-only db: any identity but ours is refused at once, with no fetch', async () => {
    const own = await cidOf('own identity')
    const deps = fakes({ [own]: { id: 'owner-id', publicKey: 'pk' } }, { own: { hash: own, id: 'owner-id' } })
    const check = new WriterCheck(deps)
    expect(await check.check(await cidOf('forged 1'))).toEqual({ ok: false, reason: 'not-a-writer' })
    expect(await check.check(await cidOf('forged 2'))).toEqual({ ok: false, reason: 'not-a-writer' })
    expect(await check.check(own)).toEqual({ ok: true, publicKey: 'pk' })
    expect(deps.fetched).toEqual([])
  })

  it('in a replica: an identity nobody has is fetched once (short timeout), then refused from memory until the miss expires', async () => {
    const deps = fakes({})
    const check = new WriterCheck(deps)
    const missing = await cidOf('nobody has this identity')
    // concurrent entries naming it share one fetch
    const verdicts = await Promise.all([check.check(missing), check.check(missing), check.check(missing)])
    expect(verdicts).toEqual(Array(3).fill({ ok: false, reason: 'unknown-identity' }))
    expect(deps.fetched).toEqual([missing])
    expect(await check.check(missing)).toEqual({ ok: false, reason: 'unknown-identity' })
    expect(check.fetches).toBe(1)
    // once the miss has expired it may be fetched again (its writer may have come online)
    deps.clock.now = IDENTITY_MISS_TTL_MS + 1
    await check.check(missing)
    expect(check.fetches).toBe(2)
  }, 20_000)

  it('in a replica: once the owner is verified, other identities are refused at once; garbage is refused without a lookup', async () => {
    const owner = await cidOf('companion identity')
    const deps = fakes({ [owner]: { id: 'owner-id', publicKey: 'pk' } })
    const check = new WriterCheck(deps)
    expect(await check.check(owner)).toEqual({ ok: true, publicKey: 'pk' })
    expect(await check.check(await cidOf('someone else'))).toEqual({ ok: false, reason: 'not-a-writer' })
    const fresh = new WriterCheck(deps)
    expect(await fresh.check('not a cid')).toEqual({ ok: false, reason: 'bad-identity' })
    expect(await fresh.check(42)).toEqual({ ok: false, reason: 'bad-identity' })
    expect(deps.fetched).toEqual([])
  })

  it('prechecks from memory alone: a refusal it can tell at once, undefined where only a lookup can', async () => {
    const own = await cidOf('own identity')
    const check = new WriterCheck(fakes({}, { own: { hash: own, id: 'owner-id', publicKey: 'own-pk' } }))
    expect(check.precheck(own, 'own-pk')).toBeUndefined()
    expect(check.precheck(own, 'someone-elses-pk')).toBe('key-mismatch')
    expect(check.precheck(await cidOf('forged'), 'own-pk')).toBe('not-a-writer')
    expect(check.precheck(42, 'own-pk')).toBe('bad-identity')
    // a replica before its owner is verified: nothing can be told yet; after, as in our own db
    const owner = await cidOf('companion identity')
    const deps = fakes({ [owner]: { id: 'owner-id', publicKey: 'pk' } })
    const replica = new WriterCheck(deps)
    const missing = await cidOf('nobody has this identity')
    expect(replica.precheck(owner, 'pk')).toBeUndefined()
    expect(replica.precheck(missing, 'pk')).toBeUndefined()
    await replica.check(owner)
    expect(replica.precheck(owner, 'pk')).toBeUndefined()
    expect(replica.precheck(owner, 'other')).toBe('key-mismatch')
    expect(replica.precheck(missing, 'pk')).toBe('not-a-writer')
    expect(deps.fetched).toEqual([])
  })
})


describe('the writer check of our access controller, wired to Helia', () => {
  it('fetches an identity block by reading Helia\'s chunk stream to its end (awaiting the generator fetches nothing)', async () => {
    const cid = CID.parse(await cidOf('remote identity'))
    const events: string[] = []
    // Helia 6's blockstore.get: an async generator that starts fetching when it is iterated
    const ipfs = {
      blockstore: {
        has: async () => false,
        async * get (wanted: CID, options?: { signal?: AbortSignal }) {
          events.push(`fetch ${wanted.toString()} ${options?.signal == null ? 'without' : 'with'} signal`)
          await new Promise((resolve) => setImmediate(resolve))
          yield new Uint8Array([1, 2])
          yield new Uint8Array([3])
          events.push('fetched')
        }
      }
    }
    const deps = writerCheckDeps({ identities: { getIdentity: async () => undefined }, orbitdb: { ipfs } }, { write: ['owner-id'] })
    await deps.fetch(cid, new AbortController().signal)
    expect(events).toEqual([`fetch ${cid.toString()} with signal`, 'fetched'])
    expect(await readBlock(ipfs, cid)).toEqual(new Uint8Array([1, 2, 3]))
  })
})
