/**
 * Generated hostile messages, each with its category, for the hostile-peer
 * suite. Deterministic for a seed, so a failing run can be replayed.
 */

export type HostileCategory =
  | 'random-bytes' | 'broken-json' | 'non-object' | 'wrong-shape' | 'huge'
  | 'bogus-address' | 'missing-db' | 'real-but-wrong-db' | 'other-node-id'

export interface HostileMessage {
  category: HostileCategory
  bytes: Uint8Array
}

export interface PayloadContext {
  /** Addresses of real dbs that are not valid user dbs (a Documents db, a db without pieces, ...) */
  realButWrong: string[]
  /** `user` db addresses of other, legitimate peers (their nodeId is not the hostile sender) */
  otherUserDbs: string[]
  /** A well-formed OrbitDB address whose db exists nowhere */
  missingDb: string
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

export function * hostileMessages (count: number, ctx: PayloadContext, seed = 1): Generator<HostileMessage> {
  const rand = prng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const categories: HostileCategory[] = ['random-bytes', 'broken-json', 'non-object', 'wrong-shape', 'huge', 'bogus-address', 'missing-db', 'real-but-wrong-db', 'other-node-id']
  for (let i = 0; i < count; i++) {
    const category = categories[i % categories.length]!
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
        yield { category, bytes: enc.encode(pick(['{', '{"type":"npp/announce"', '{"a":1,}', 'undefined', '{\'single\':1}', `{"userDb":"${'x'.repeat(Math.floor(rand() * 100))}`])) }
        break
      case 'non-object':
        yield { category, bytes: json(pick([null, 1, 'npp/announce', [1, 2], [{ type: 'npp/announce' }], true])) }
        break
      case 'wrong-shape':
        yield {
          category,
          bytes: json(pick<unknown>([
            { type: 'npp/announce' },
            { type: 'npp/announce', v: 2, userDb: ctx.missingDb },
            { type: 'npp/announce', v: 1, userDb: 42 },
            { type: 'npp/announce', v: 1, userDb: ctx.missingDb, extra: 'x' },
            { type: 'something/else', v: 1 },
            { __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } },
            { type: 'npp/announce', v: 1, userDb: '/orbitdb/' }
          ]))
        }
        break
      case 'huge':
        yield { category, bytes: json({ type: 'npp/announce', v: 1, userDb: ctx.missingDb, pad: 'x'.repeat(65 * 1024 + Math.floor(rand() * 4096)) }) }
        break
      case 'bogus-address':
        yield { category, bytes: json({ type: 'npp/announce', v: 1, userDb: pick(['/orbitdb/notacid', '/orbitdb/zdpu' + '1'.repeat(40), '/ipfs/QmNotOrbit', '../../etc/passwd', '/orbitdb/zdpu<script>']) }) }
        break
      case 'missing-db':
        yield { category, bytes: json({ type: 'npp/announce', v: 1, userDb: ctx.missingDb }) }
        break
      case 'real-but-wrong-db':
        yield { category, bytes: json({ type: 'npp/announce', v: 1, userDb: pick(ctx.realButWrong) }) }
        break
      case 'other-node-id':
        yield { category, bytes: json({ type: 'npp/announce', v: 1, userDb: pick(ctx.otherUserDbs) }) }
        break
    }
  }
}
