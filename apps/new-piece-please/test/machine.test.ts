import { createBus } from '@npp/bus'
import { describe, expect, it } from 'vitest'
import { createActor, fromPromise, setup, waitFor } from 'xstate'
import { appMachine, COMPONENTS } from '../src/machine.js'
import type { Component, ComponentName, Components } from '../src/machine.js'

/** A component with its own small actor that records when it starts and stops */
function components (log: string[], options: { failStart?: ComponentName } = {}): Components {
  const make = (name: ComponentName): Component => {
    const actor = createActor(setup({}).createMachine({ id: name, initial: 'idle', states: { idle: { on: { crash: 'idle' } } } })).start()
    return {
      actor,
      async start () {
        log.push(`start ${name}`)
        if (options.failStart === name) throw new Error(`${name} cannot start`)
      },
      async stop () { log.push(`stop ${name}`) }
    }
  }
  return Object.fromEntries(COMPONENTS.map((n) => [n, make(n)])) as Components
}

describe('the root machine', () => {
  it('starts the packages in order, hosts each under its system id, and stops them in reverse', async () => {
    const log: string[] = []
    const actor = createActor(appMachine, { input: { components: components(log), bus: createBus() } }).start()
    actor.send({ type: 'start' })
    await waitFor(actor, (s) => s.matches('running'))
    // the packages' contract: the catalog writes the profile before discovery announces it,
    // and companions listen before discovery finds any
    expect(log).toEqual(['start transport', 'start companions', 'start catalog', 'start discovery'])
    for (const name of COMPONENTS) expect(actor.system.get(name), name).toBeDefined()
    expect(actor.getSnapshot().context.states).toEqual({ transport: 'idle', catalog: 'idle', companions: 'idle', discovery: 'idle' })
    actor.send({ type: 'stop' })
    await waitFor(actor, (s) => s.matches('stopped'))
    expect(log.slice(4)).toEqual(['stop discovery', 'stop catalog', 'stop companions', 'stop transport'])
    for (const name of COMPONENTS) expect(actor.system.get(name), name).toBeUndefined()
    actor.stop()
  })

  it('fails with the first error and stops what had started when a package cannot start', async () => {
    const log: string[] = []
    const actor = createActor(appMachine, { input: { components: components(log, { failStart: 'catalog' }), bus: createBus() } }).start()
    actor.send({ type: 'start' })
    const snapshot = await waitFor(actor, (s) => s.matches('failed'))
    expect(snapshot.context.error?.message).toBe('catalog cannot start')
    expect(log).toEqual(['start transport', 'start companions', 'start catalog', 'stop discovery', 'stop catalog', 'stop companions', 'stop transport'])
    actor.stop()
  })

  it('fails when the transport reports a failure on the bus while running', async () => {
    const log: string[] = []
    const bus = createBus()
    const actor = createActor(appMachine, { input: { components: components(log), bus } }).start()
    actor.send({ type: 'start' })
    await waitFor(actor, (s) => s.matches('running'))
    bus.emit('transport:failed', { error: new Error('libp2p crashed') })
    const snapshot = await waitFor(actor, (s) => s.matches('failed'))
    expect(snapshot.context.error?.message).toBe('libp2p crashed')
    expect(log.slice(-4)).toEqual(['stop discovery', 'stop catalog', 'stop companions', 'stop transport'])
    actor.stop()
  })

  it('lets tests swap implementations by name', async () => {
    const log: string[] = []
    const machine = appMachine.provide({
      actors: { stopComponents: fromPromise<void, { components: Components }>(async () => { throw new Error('disk full') }) }
    })
    const actor = createActor(machine, { input: { components: components(log), bus: createBus() } }).start()
    actor.send({ type: 'start' })
    await waitFor(actor, (s) => s.matches('running'))
    actor.send({ type: 'stop' })
    const snapshot = await waitFor(actor, (s) => s.matches('failed'))
    expect(snapshot.context.error?.message).toBe('disk full')
    actor.stop()
  })
})
