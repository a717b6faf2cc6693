import { toError } from '@npp/bus'
import { assertEvent, assign, emit, setup } from 'xstate'
import { nodeEventsActor, startNodeActor, stopNodeActor } from './transport.actors.js'
import type { NodeEvent } from './transport.actors.js'
import type { Node, NodeOptions } from './node.js'
import type { BusEvent } from '@npp/bus'

export type { NodeEvent } from './transport.actors.js'

export type TransportMachineEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | NodeEvent

export interface TransportMachineContext {
  options: NodeOptions
  node: Node | undefined
  error: Error | undefined
  /** A stop arrived while starting: stop as soon as the start finished */
  stopRequested: boolean
}

/** Bus events the transport emits (forwarded to the bus in one place, `createTransport`) */
export type TransportEmitted = BusEvent<'transport:started' | 'transport:stopped' | 'transport:failed' | 'peer:connected' | 'peer:disconnected' | 'message:received' | 'message:rejected'>

/**
 * The transport's lifecycle: `stopped -> starting -> online -> stopping -> stopped`,
 * or `failed` (with the error in context) when starting or stopping fails. While
 * online, the `nodeEvents` actor listens to libp2p and our pubsub topic.
 */
export const transportMachine = setup({
  types: {
    context: {} as TransportMachineContext,
    events: {} as TransportMachineEvent,
    emitted: {} as TransportEmitted,
    input: {} as { options: NodeOptions }
  },
  actors: {
    startNode: startNodeActor,
    stopNode: stopNodeActor,
    nodeEvents: nodeEventsActor
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequested
  },
  actions: {
    resetStart: assign({ error: undefined, stopRequested: false }),
    requestStop: assign({ stopRequested: true }),
    keepNode: assign((_, params: { node: Node }) => ({ node: params.node })),
    dropNode: assign({ node: undefined }),
    keepError: assign((_, params: { error: unknown }) => ({ error: toError(params.error) })),
    emitStarted: emit((_, params: { node: Node }) => ({
      type: 'transport:started' as const,
      peerId: params.node.libp2p.peerId.toString(),
      multiaddrs: params.node.libp2p.getMultiaddrs().map(String)
    })),
    emitStopped: emit(({ context }) => ({ type: 'transport:stopped' as const, peerId: context.node?.topic ?? '' })),
    emitFailed: emit((_, params: { error: unknown }) => ({ type: 'transport:failed' as const, error: toError(params.error) })),
    emitPeerConnected: emit(({ event }) => {
      assertEvent(event, 'node.peerConnected')
      return { type: 'peer:connected' as const, peerId: event.peerId, multiaddrs: event.multiaddrs }
    }),
    emitPeerDisconnected: emit(({ event }) => {
      assertEvent(event, 'node.peerDisconnected')
      return { type: 'peer:disconnected' as const, peerId: event.peerId }
    }),
    emitMessageReceived: emit(({ event }) => {
      assertEvent(event, 'node.messageReceived')
      return { type: 'message:received' as const, from: event.from, payload: event.payload }
    }),
    emitMessageRejected: emit(({ event }) => {
      assertEvent(event, 'node.messageRejected')
      return { type: 'message:rejected' as const, from: event.from, reason: event.reason, size: event.size }
    })
  }
}).createMachine({
  id: 'transport',
  context: ({ input }) => ({ options: input.options, node: undefined, error: undefined, stopRequested: false }),
  initial: 'stopped',
  states: {
    stopped: {
      on: { start: 'starting' }
    },
    starting: {
      entry: 'resetStart',
      on: { stop: { actions: 'requestStop' } },
      invoke: {
        src: 'startNode',
        input: ({ context }) => context.options,
        onDone: [
          {
            guard: 'stopRequested',
            target: 'stopping',
            actions: { type: 'keepNode', params: ({ event }) => ({ node: event.output }) }
          },
          {
            target: 'online',
            actions: [
              { type: 'keepNode', params: ({ event }) => ({ node: event.output }) },
              { type: 'emitStarted', params: ({ event }) => ({ node: event.output }) }
            ]
          }
        ],
        onError: {
          target: 'failed',
          actions: [
            { type: 'keepError', params: ({ event }) => ({ error: event.error }) },
            { type: 'emitFailed', params: ({ event }) => ({ error: event.error }) }
          ]
        }
      }
    },
    online: {
      invoke: { src: 'nodeEvents', input: ({ context }) => ({ node: context.node! }) },
      on: {
        stop: 'stopping',
        'node.peerConnected': { actions: 'emitPeerConnected' },
        'node.peerDisconnected': { actions: 'emitPeerDisconnected' },
        'node.messageReceived': { actions: 'emitMessageReceived' },
        'node.messageRejected': { actions: 'emitMessageRejected' }
      }
    },
    stopping: {
      invoke: {
        src: 'stopNode',
        input: ({ context }) => ({ node: context.node! }),
        onDone: {
          target: 'stopped',
          actions: ['emitStopped', 'dropNode']
        },
        onError: {
          target: 'failed',
          actions: [
            { type: 'keepError', params: ({ event }) => ({ error: event.error }) },
            'dropNode',
            { type: 'emitFailed', params: ({ event }) => ({ error: event.error }) }
          ]
        }
      }
    },
    failed: {
      on: { start: 'starting' }
    }
  }
})
