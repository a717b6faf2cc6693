import { describe, it, expectTypeOf } from 'vitest'
import { createBus } from '../src/index.js'
import type { BusEvents } from '../src/index.js'

describe('BusEvents types', () => {
  it('rejects wrong payloads and unknown events at compile time', () => {
    const bus = createBus()
    // @ts-expect-error peerId must be a string
    bus.emit('peer:connected', { peerId: 42, multiaddrs: [] })
    // @ts-expect-error multiaddrs is required
    bus.emit('peer:connected', { peerId: 'a' })
    // @ts-expect-error not an event of the catalog
    bus.emit('peer:exploded', {})
    // @ts-expect-error handler receives the payload of its own event
    bus.on('companion:online', (e: { nodeId: number }) => e)
    bus.on('companion:online', (e) => { expectTypeOf(e).toEqualTypeOf<BusEvents['companion:online']>() })
    expectTypeOf(bus.waitFor('db:announced')).resolves.toEqualTypeOf<{ from: string, userDb: string }>()
  })
})
