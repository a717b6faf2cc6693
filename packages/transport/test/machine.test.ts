import { describe, expect, it } from 'vitest'
import { createActor, fromPromise, waitFor } from 'xstate'
import { transportMachine } from '../src/index.js'
import type { Node, NodeOptions } from '../src/node.js'

const options = { repo: '/nonexistent', listen: [], bootstrap: 'none' as const }

describe('transportMachine', () => {
  it('goes to failed with the error and emits transport:failed when the node cannot start', async () => {
    const machine = transportMachine.provide({
      actors: { startNode: fromPromise<Node, NodeOptions>(async () => { throw new Error('disk full') }) }
    })
    const actor = createActor(machine, { input: { options } })
    const emitted: string[] = []
    actor.on('*', (e) => emitted.push(e.type))
    actor.start()
    actor.send({ type: 'start' })
    const snapshot = await waitFor(actor, (s) => s.matches('failed'))
    expect(snapshot.context.error?.message).toBe('disk full')
    expect(emitted).toEqual(['transport:failed'])
  })

  it('stops right after starting when stop arrives during start', async () => {
    let closed = 0
    const fakeNode = { topic: 'me', libp2p: { peerId: 'me', getMultiaddrs: () => [] }, close: async () => { closed++ } }
    const machine = transportMachine.provide({
      actors: {
        startNode: fromPromise<Node, NodeOptions>(async () => fakeNode as unknown as Node),
        stopNode: fromPromise<void, { node: Node }>(async ({ input }) => { await input.node.close() })
      }
    })
    const actor = createActor(machine, { input: { options } })
    actor.start()
    actor.send({ type: 'start' })
    actor.send({ type: 'stop' })
    await waitFor(actor, (s) => s.matches('stopped') && closed === 1)
    expect(actor.getSnapshot().context.node).toBeUndefined()
  })
})
