import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { coalesceHeads } from '../src/heads-publish.js'
import type { NppLibp2p } from '../src/node.js'
import type { Logger } from '@libp2p/interface'

const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as unknown as Logger
const bytes = (n: number): Uint8Array => Uint8Array.of(n)

/** A libp2p whose pubsub records what is published */
function recording (): { libp2p: NppLibp2p, published: Array<[string, number]> } {
  const published: Array<[string, number]> = []
  const pubsub = {
    publish: async (topic: string, data: Uint8Array) => { published.push([topic, data[0]!]); return { recipients: [] } },
    getTopics: () => ['t']
  }
  return { libp2p: { services: { pubsub }, peerId: 'me' } as unknown as NppLibp2p, published }
}

describe('coalesceHeads: a db\'s heads published at most once per interval', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('publishes the first head at once, the last of a burst when the interval ends, and nothing in between', async () => {
    const { libp2p, published } = recording()
    const { libp2p: wrapped, stop } = coalesceHeads(libp2p, { intervalMs: 50, log })
    const pubsub = wrapped.services.pubsub
    const a = '/orbitdb/zdpuA'
    const b = '/orbitdb/zdpuB'
    for (let n = 1; n <= 5; n++) await pubsub.publish(a, bytes(n))
    await pubsub.publish(b, bytes(1))
    expect(published).toEqual([[a, 1], [b, 1]])
    await vi.advanceTimersByTimeAsync(50)
    // a's last head; b had none held back
    expect(published).toEqual([[a, 1], [b, 1], [a, 5]])
    // the interval goes on while heads come: 6 is held until it ends
    await pubsub.publish(a, bytes(6))
    expect(published).toHaveLength(3)
    await vi.advanceTimersByTimeAsync(50)
    expect(published.at(-1)).toEqual([a, 6])
    // a quiet interval closes it: the next head goes at once
    await vi.advanceTimersByTimeAsync(50)
    await pubsub.publish(a, bytes(7))
    expect(published.at(-1)).toEqual([a, 7])
    stop()
  })

  it('leaves other topics alone and drops held heads on stop', async () => {
    const { libp2p, published } = recording()
    const { libp2p: wrapped, stop } = coalesceHeads(libp2p, { intervalMs: 50, log })
    const pubsub = wrapped.services.pubsub
    for (let n = 1; n <= 3; n++) await pubsub.publish('12D3KooWpeer', bytes(n))
    expect(published).toHaveLength(3)
    await pubsub.publish('/orbitdb/zdpuA', bytes(1))
    await pubsub.publish('/orbitdb/zdpuA', bytes(2))
    stop()
    await vi.advanceTimersByTimeAsync(100)
    expect(published.map(([, n]) => n)).toEqual([1, 2, 3, 1])
    // everything else of libp2p is the same
    expect(pubsub.getTopics()).toEqual(['t'])
    expect(wrapped.peerId).toBe('me')
  })
})
