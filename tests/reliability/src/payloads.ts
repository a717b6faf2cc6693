/**
 * Generated hostile messages, by category, for the hostile-peer suite.
 * Deterministic for a seed, so a failing run can be replayed. Each category
 * says which outcomes are acceptable for its messages (see {@link OUTCOMES}).
 */

export type HostileCategory =
  | 'random-bytes' | 'broken-json' | 'non-object' | 'wrong-shape' | 'huge'
  | 'bogus-address' | 'missing-db' | 'real-but-wrong-db' | 'other-node-id'

export interface HostileMessage {
  category: HostileCategory
  bytes: Uint8Array
}

export interface PayloadContext {
  /** Addresses of real dbs that are not valid user dbs of the sender (a Documents db, a db without pieces, ...) */
  realButWrong: string[]
  /** `user` db addresses of other, legitimate peers (their nodeId is not the hostile sender) */
  otherUserDbs: string[]
  /** A well-formed OrbitDB address whose db exists nowhere */
  missingDb: string
}

/**
 * How many messages of each category make up the suite's 10 000: every category
 * is sent by a hostile identity of its own, so that each gets its own rate-limit
 * window and its specific rejections are exercised, not only `rate-limited`.
 */
export const CATEGORY_COUNTS: Readonly<Record<HostileCategory, number>> = {
  'random-bytes': 1500,
  'broken-json': 1500,
  'non-object': 1000,
  'wrong-shape': 1500,
  huge: 500,
  'bogus-address': 1000,
  'missing-db': 1000,
  'real-but-wrong-db': 1000,
  'other-node-id': 1000
}

/**
 * Acceptable outcomes per category. `message:<reason>` is a transport
 * rejection (`message:rejected`), `discovery:<reason>` a discovery rejection
 * (`discovery:rejected`), `ignored:other-protocol` a JSON object with another
 * protocol's `type` (delivered as `message:received`, not discovery's to judge).
 */
export const OUTCOMES: Readonly<Record<HostileCategory, readonly string[]>> = {
  'random-bytes': ['message:not-json'],
  'broken-json': ['message:not-json'],
  'non-object': ['message:not-object'],
  'wrong-shape': ['discovery:bad-shape', 'discovery:rate-limited', 'ignored:other-protocol'],
  huge: ['message:too-large'],
  'bogus-address': ['discovery:bad-shape', 'discovery:rate-limited'],
  'missing-db': ['discovery:not-found', 'discovery:rate-limited', 'discovery:duplicate', 'discovery:queue-full'],
  'real-but-wrong-db': [
    'discovery:wrong-type', 'discovery:no-pieces', 'discovery:invalid-profile', 'discovery:pieces-wrong-type',
    'discovery:pieces-not-owned', 'discovery:pieces-not-found', 'discovery:bad-access', 'discovery:own-db',
    'discovery:node-id-mismatch', 'discovery:rate-limited', 'discovery:duplicate', 'discovery:queue-full',
    // the machine was too slow for every attempt: said as such, never as a db that does not exist
    'discovery:replication-timeout'
  ],
  'other-node-id': ['discovery:node-id-mismatch', 'discovery:rate-limited', 'discovery:duplicate', 'discovery:queue-full', 'discovery:replication-timeout']
}

/** mulberry32: a tiny seeded PRNG, enough for reproducible fuzzing */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const enc = new TextEncoder()
const json = (value: unknown): Uint8Array => enc.encode(JSON.stringify(value))
const announce = (userDb: unknown, extra: Record<string, unknown> = {}): Uint8Array => json({ type: 'npp/announce', v: 1, userDb, ...extra })

/**
 * `count` messages of one category. Pool categories (`real-but-wrong-db`,
 * `other-node-id`) first go through their pool in order, so that every db is
 * announced before the rate limit starts refusing, then pick at random.
 */
export function * categoryMessages (category: HostileCategory, count: number, ctx: PayloadContext, seed = 1): Generator<HostileMessage> {
  const rand = prng(seed)
  const pick = <T>(xs: readonly T[], i: number, inOrder = false): T => inOrder && i < xs.length ? xs[i]! : xs[Math.floor(rand() * xs.length)]!
  for (let i = 0; i < count; i++) {
    switch (category) {
      case 'random-bytes': {
        // 0xff never starts valid UTF-8, so these are never accidentally JSON
        const bytes = new Uint8Array(1 + Math.floor(rand() * 512))
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256)
        bytes[0] = 0xff
        yield { category, bytes }
        break
      }
      case 'broken-json':
        yield {
          category,
          bytes: enc.encode(pick([
            '{', '{"type":"npp/announce"', '{"a":1,}', 'undefined', '{\'single\':1}', '', ' ', 'NaN', '{"type":"npp/announce","v":1,"userDb":"/orbitdb/zdpu', '\u0000',
            `{"userDb":"${'x'.repeat(Math.floor(rand() * 100))}`, '['.repeat(5000), '{"a":'.repeat(3000)
          ], i))
        }
        break
      case 'non-object':
        yield { category, bytes: json(pick([null, 1, -0.5, 'npp/announce', [1, 2], [{ type: 'npp/announce' }], true, false, [], 'x'.repeat(1000)], i)) }
        break
      case 'wrong-shape':
        yield {
          category,
          bytes: json(pick<unknown>([
            { type: 'npp/announce' },
            { type: 'npp/announce', v: 2, userDb: ctx.missingDb },
            { type: 'npp/announce', v: '1', userDb: ctx.missingDb },
            { type: 'npp/announce', v: 1, userDb: 42 },
            { type: 'npp/announce', v: 1, userDb: null },
            { type: 'npp/announce', v: 1, userDb: [ctx.missingDb] },
            { type: 'npp/announce', v: 1, userDb: ctx.missingDb, extra: 'x' },
            { userDb: ctx.missingDb },
            { type: 'something/else', v: 1, userDb: ctx.missingDb },
            { type: 'NPP/ANNOUNCE', v: 1, userDb: ctx.missingDb },
            JSON.parse('{"__proto__":{"polluted":true},"type":"npp/announce","v":1}'),
            JSON.parse('{"constructor":{"prototype":{"polluted":true}},"userDb":"/orbitdb/x"}'),
            { type: 'npp/announce', v: 1, userDb: '/orbitdb/' },
            { type: 'npp/announce', v: 1, userDb: { toString: 'x' } },
            {}
          ], i, true))
        }
        break
      case 'huge': {
        // over the 64 KiB limit: mostly just over, every 25th about 1 MiB
        const size = i % 25 === 0 ? 1024 * 1024 + Math.floor(rand() * 1024) : 65 * 1024 + Math.floor(rand() * 64 * 1024)
        yield { category, bytes: announce(ctx.missingDb, { pad: 'x'.repeat(size) }) }
        break
      }
      case 'bogus-address':
        yield {
          category,
          bytes: announce(pick([
            '/orbitdb/notacid', '/orbitdb/zdpu' + '1'.repeat(40), '/ipfs/QmNotOrbit', '../../etc/passwd', '/orbitdb/zdpu<script>',
            `/orbitdb/${'z'.repeat(5000)}`, ctx.missingDb.toUpperCase(), ` ${ctx.missingDb}`, `${ctx.missingDb}/extra`, 'file:///etc/passwd'
          ], i, true))
        }
        break
      case 'missing-db':
        yield { category, bytes: announce(ctx.missingDb) }
        break
      case 'real-but-wrong-db':
        yield { category, bytes: announce(pick(ctx.realButWrong, i, true)) }
        break
      case 'other-node-id':
        yield { category, bytes: announce(pick(ctx.otherUserDbs, i, true)) }
        break
    }
  }
}

/** Every category in a fixed order, `counts` messages each (default {@link CATEGORY_COUNTS}: 10 000 in all) */
export function * hostileMessages (ctx: PayloadContext, seed = 1, counts: Readonly<Record<HostileCategory, number>> = CATEGORY_COUNTS): Generator<HostileMessage> {
  let s = seed
  for (const [category, count] of Object.entries(counts) as Array<[HostileCategory, number]>) {
    yield * categoryMessages(category, count, ctx, s++)
  }
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/**
 * Well-formed OrbitDB addresses that exist nowhere: a real address with its
 * last characters changed (the CID stays syntactically valid).
 */
export function missingAddresses (real: string, count: number): string[] {
  const out: string[] = []
  const tail = 4
  const stem = real.slice(0, -tail)
  for (let i = 0; out.length < count; i++) {
    let n = i + 1
    let suffix = ''
    for (let j = 0; j < tail; j++) {
      suffix = BASE58[n % BASE58.length]! + suffix
      n = Math.floor(n / BASE58.length)
    }
    const address = stem + suffix
    if (address !== real) out.push(address)
  }
  return out
}
