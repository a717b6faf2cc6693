import { describe, expect, it } from 'vitest'
import { PieceIndex } from '../src/piece-index.js'
import type { Entry, Operation } from '@npp/transport'

const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
let n = 0
const entry = (payload: Operation, time = ++n): Entry<Operation> =>
  ({ hash: `h${n}`, payload, clock: { id: 'writer', time }, next: [], refs: [] }) as unknown as Entry<Operation>

describe('PieceIndex (a companion\'s pieces, from untrusted entries)', () => {
  it('keeps a delete of a piece hash (last write wins), and skips deletes of anything else, counted', () => {
    const reasons: string[] = []
    const index = new PieceIndex({ onInvalid: (_e, reason) => { reasons.push(reason) } })
    index.apply([entry({ op: 'PUT', key: CID, value: { hash: CID, instrument: 'violin', addedAt: 1 } })])
    expect(index.size).toBe(1)
    index.apply([
      entry({ op: 'DEL', key: 'x'.repeat(100_000), value: null }),
      entry({ op: 'DEL', key: 'not-a-cid', value: null }),
      entry({ op: 'DEL', key: CID.toUpperCase(), value: null })
    ])
    expect(index.size).toBe(1)
    expect(index.invalid).toBe(3)
    expect(reasons).toEqual(Array(3).fill('the deleted key is not a CID in canonical form'))
    expect(index.apply([entry({ op: 'DEL', key: CID, value: null })])).toEqual([{ hash: CID, change: 'removed' }])
    expect(index.size).toBe(0)
  })
})
