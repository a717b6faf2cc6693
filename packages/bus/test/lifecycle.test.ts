import { describe, expect, it } from 'vitest'
import { assign, createActor, fromPromise, setup } from 'xstate'
import { actorLifecycle } from '../src/index.js'

const machine = setup({
  types: { context: {} as { error: Error | undefined, fail: boolean }, input: {} as { fail: boolean } },
  actors: {
    open: fromPromise<void, { fail: boolean }>(async ({ input }) => { if (input.fail) throw new Error('no disk') }),
    close: fromPromise(async () => {})
  }
}).createMachine({
  context: ({ input }) => ({ error: undefined, fail: input.fail }),
  initial: 'stopped',
  states: {
    stopped: { on: { start: 'starting' } },
    starting: {
      on: { stop: 'stopped' },
      invoke: {
        src: 'open',
        input: ({ context }) => ({ fail: context.fail }),
        onDone: 'running',
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as Error }) }
      }
    },
    running: { on: { stop: 'stopping' } },
    stopping: { invoke: { src: 'close', onDone: 'stopped' } },
    failed: { on: { start: 'starting' } }
  }
})

const errors = {
  startFailed: (cause: Error | undefined) => new Error(`could not start: ${cause?.message}`),
  stopFailed: () => new Error('could not stop'),
  interrupted: () => new Error('stopped while starting')
}

describe('actorLifecycle', () => {
  it('starts and stops, each safe to call twice', async () => {
    const actor = createActor(machine, { input: { fail: false } }).start()
    const lifecycle = actorLifecycle(actor, { running: 'running' }, errors)
    await Promise.all([lifecycle.start(), lifecycle.start()])
    expect(actor.getSnapshot().value).toBe('running')
    await lifecycle.stop()
    await lifecycle.stop()
    expect(actor.getSnapshot().value).toBe('stopped')
  })

  it('throws the start error built from context.error', async () => {
    const actor = createActor(machine, { input: { fail: true } }).start()
    const lifecycle = actorLifecycle(actor, { running: 'running' }, errors)
    await expect(lifecycle.start()).rejects.toThrow('could not start: no disk')
    await lifecycle.stop() // failed: nothing to stop
  })

  it('reports a stop that arrived while starting', async () => {
    const actor = createActor(machine, { input: { fail: false } }).start()
    const lifecycle = actorLifecycle(actor, { running: 'running' }, errors)
    const starting = lifecycle.start()
    actor.send({ type: 'stop' })
    await expect(starting).rejects.toThrow('stopped while starting')
  })
})
