import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { BlockArrivals } from '../src/arrivals.js'

async function cidOf (value: unknown): Promise<CID> {
  return CID.createV1(dagCbor.code, await sha256.digest(dagCbor.encode(value)))
}

/** Whether `promise` has settled once everything queued so far has run */
async function settled (promise: Promise<unknown>): Promise<boolean> {
  let done = false
  void promise.then(() => { done = true })
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

/** A stream bringing one block: the registry, the block's CID and key, the stream's side */
async function oneOnItsWay (): Promise<{ arrivals: BlockArrivals, cid: CID, key: string, incoming: ReturnType<BlockArrivals['begin']> }> {
  const arrivals = new BlockArrivals()
  const cid = await cidOf({ n: 1 })
  const key = cid.toString(base58btc)
  const incoming = arrivals.begin()
  incoming.expect(key)
  return { arrivals, cid, key, incoming }
}

describe('BlockArrivals: reads wait for a block a stream is bringing', () => {
  it('a read of a block no stream is bringing goes on at once', async () => {
    const arrivals = new BlockArrivals()
    const cid = await cidOf({ n: 1 })
    expect(await settled(arrivals.until(cid))).toBe(true)
    const incoming = arrivals.begin()
    incoming.expect((await cidOf({ n: 2 })).toString(base58btc))
    expect(await settled(arrivals.until(cid))).toBe(true)
    incoming.end()
  })

  it('a read of a block on its way waits until it is stored', async () => {
    const { arrivals, cid, key, incoming } = await oneOnItsWay()
    const reads = [arrivals.until(cid), arrivals.until(cid)]
    expect(await settled(Promise.race(reads))).toBe(false)
    incoming.arrived(key)
    expect(await settled(Promise.all(reads))).toBe(true)
    // once arrived, later reads do not wait
    expect(await settled(arrivals.until(cid))).toBe(true)
    incoming.end()
  })

  it('the end of the stream releases what it did not bring, unless another stream brings it', async () => {
    const arrivals = new BlockArrivals()
    const a = await cidOf({ n: 'a' })
    const b = await cidOf({ n: 'b' })
    const first = arrivals.begin()
    const second = arrivals.begin()
    first.expect(a.toString(base58btc))
    first.expect(b.toString(base58btc))
    second.expect(b.toString(base58btc))
    const readA = arrivals.until(a)
    const readB = arrivals.until(b)
    first.end()
    expect(await settled(readA)).toBe(true)
    expect(await settled(readB)).toBe(false)
    second.end()
    expect(await settled(readB)).toBe(true)
  })

  it('a read stops waiting when its signal aborts', async () => {
    const { arrivals, cid, incoming } = await oneOnItsWay()
    const controller = new AbortController()
    const read = arrivals.until(cid, controller.signal)
    expect(await settled(read)).toBe(false)
    controller.abort()
    expect(await settled(read)).toBe(true)
    incoming.end()
  })

  it('hands out the bytes a stream stored once, to the first read; later reads go to the store', async () => {
    const { arrivals, cid, key, incoming } = await oneOnItsWay()
    const read = arrivals.until(cid)
    const frame = new Uint8Array(64 * 1024)
    const block = frame.subarray(100, 700).fill(7)
    incoming.arrived(key, block)
    const fresh = await read
    expect(fresh).toEqual(block)
    // a copy of its own size, not a view that keeps the stream's frame alive
    expect(fresh!.buffer.byteLength).toBe(600)
    expect(await arrivals.until(cid)).toBeUndefined()
    incoming.end()
  })
})
