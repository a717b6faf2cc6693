import { describe, expect, it } from 'vitest'

// The public surface of @npp/bus, on purpose: a new export is a decision, a removed
// one breaks its users. Types (BusEvents, BusEvent, ...) vanish at run time.
describe('@npp/bus exports', () => {
  it('exports exactly these names', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'BusTimeoutError',
      'actorLifecycle',
      'createBus',
      'forwardEmitted',
      'fromBus',
      'toError'
    ])
  })
})
