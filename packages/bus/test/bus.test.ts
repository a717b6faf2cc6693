import { describe, it, expect, vi } from 'vitest'
import { NppError } from '@npp/kit'
import { createBus, BusTimeoutError } from '../src/index.js'

describe('createBus', () => {
  it('delivers typed events to subscribers and stops after off()', () => {
    const bus = createBus()
    const seen: string[] = []
    const handler = ({ peerId }: { peerId: string }): void => { seen.push(peerId) }
    bus.on('peer:disconnected', handler)
    bus.emit('peer:disconnected', { peerId: 'a' })
    bus.off('peer:disconnected', handler)
    bus.emit('peer:disconnected', { peerId: 'b' })
    expect(seen).toEqual(['a'])
  })

  it('keeps delivering when one handler throws', () => {
    const onError = vi.fn()
    const bus = createBus({ onError })
    const second = vi.fn()
    bus.on('peer:disconnected', () => { throw new Error('boom') })
    bus.on('peer:disconnected', second)
    bus.emit('peer:disconnected', { peerId: 'a' })
    expect(second).toHaveBeenCalledOnce()
    expect(onError).toHaveBeenCalledOnce()
  })

  it('subscribe() returns its unsubscribe and onAny() sees every event', () => {
    const bus = createBus()
    const any: string[] = []
    const offAny = bus.onAny((type) => { any.push(type) })
    const h = vi.fn()
    const off = bus.subscribe('peer:connected', h)
    bus.emit('peer:connected', { peerId: 'x', multiaddrs: [] })
    off()
    bus.emit('peer:connected', { peerId: 'y', multiaddrs: [] })
    offAny()
    bus.emit('peer:disconnected', { peerId: 'z' })
    expect(h).toHaveBeenCalledOnce()
    expect(any).toEqual(['peer:connected', 'peer:connected'])
  })

  it('waitFor resolves with the first event matching the predicate', async () => {
    const bus = createBus()
    const p = bus.waitFor('peer:connected', (e) => e.peerId === 'b', { timeoutMs: 1000 })
    bus.emit('peer:connected', { peerId: 'a', multiaddrs: [] })
    bus.emit('peer:connected', { peerId: 'b', multiaddrs: ['/ip4/127.0.0.1/tcp/1'] })
    await expect(p).resolves.toEqual({ peerId: 'b', multiaddrs: ['/ip4/127.0.0.1/tcp/1'] })
  })

  it('waitFor rejects with BusTimeoutError after timeoutMs and unsubscribes', async () => {
    vi.useFakeTimers()
    try {
      const bus = createBus()
      const p = bus.waitFor('peer:connected', undefined, { timeoutMs: 50 })
      vi.advanceTimersByTime(51)
      await expect(p).rejects.toBeInstanceOf(BusTimeoutError)
      await expect(p).rejects.toMatchObject({ name: 'BusTimeoutError', kind: 'timeout', httpStatus: 504 })
      await expect(p).rejects.toBeInstanceOf(NppError)
    } finally {
      vi.useRealTimers()
    }
  })

  it('waitFor rejects when the signal aborts', async () => {
    const bus = createBus()
    const controller = new AbortController()
    const p = bus.waitFor('peer:connected', undefined, { signal: controller.signal })
    controller.abort(new Error('stopped'))
    await expect(p).rejects.toThrow('stopped')
  })
})

describe('forwardEmitted', () => {
  it('hands emitted events to the bus once the transition is over, so a handler can call back into the actor', async () => {
    const { createActor, emit, setup, assign } = await import('xstate')
    const { forwardEmitted } = await import('../src/index.js')
    const machine = setup({
      types: { context: {} as { asked: number }, events: {} as { type: 'poke' } | { type: 'ask' } },
      actions: {
        tell: emit({ type: 'transport:stopped', peerId: 'p' }),
        count: assign({ asked: ({ context }) => context.asked + 1 })
      }
    }).createMachine({ context: { asked: 0 }, on: { poke: { actions: 'tell' }, ask: { actions: 'count' } } })
    const actor = createActor(machine).start()
    const bus = createBus()
    forwardEmitted(actor as never, bus)
    const seen: number[] = []
    bus.on('transport:stopped', () => {
      actor.send({ type: 'ask' })
      // the answer is there at once: the actor was not mid-transition
      seen.push(actor.getSnapshot().context.asked)
    })
    const heard = bus.waitFor('transport:stopped')
    actor.send({ type: 'poke' })
    await heard
    expect(seen).toEqual([1])
  })
})
