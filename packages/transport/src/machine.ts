import { assign, emit, fromCallback, fromPromise, setup } from 'xstate'
import { parseMessage } from './messages.js'
import { startNode } from './node.js'
import type { Node, NodeOptions } from './node.js'
import { toError } from '@npp/bus'
import type { BusEvent } from '@npp/bus'
import type { Connection, PeerId } from '@libp2p/interface'

/** Events the node's listeners send to the machine */
export type NodeEvent =
  | { type: 'node.peerConnected', peerId: string, multiaddrs: string[] }
  | { type: 'node.peerDisconnected', peerId: string }
  | { type: 'node.messageReceived', from: string, payload: Record<string, unknown> }
  | { type: 'node.messageRejected', from: string | undefined, reason: string, size: number }

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
    startNode: fromPromise<Node, NodeOptions>(async ({ input }) => await startNode(input)),
    stopNode: fromPromise<void, { node: Node }>(async ({ input }) => { await input.node.close() }),
    nodeEvents: fromCallback<NodeEvent, { node: Node }>(({ input, sendBack }) => {
      const { libp2p, topic } = input.node
      const pubsub = libp2p.services.pubsub
      const addrsOf = (peerId: PeerId): string[] =>
        libp2p.getConnections(peerId).map((c: Connection) => c.remoteAddr.toString())
      const onConnect = (evt: CustomEvent<PeerId>): void => {
        sendBack({ type: 'node.peerConnected', peerId: evt.detail.toString(), multiaddrs: addrsOf(evt.detail) })
      }
      const onDisconnect = (evt: CustomEvent<PeerId>): void => {
        sendBack({ type: 'node.peerDisconnected', peerId: evt.detail.toString() })
      }
      const onMessage = (evt: CustomEvent<Parameters<typeof parseMessage>[0]>): void => {
        if (evt.detail.topic !== topic) return
        const parsed = parseMessage(evt.detail)
        if (parsed.ok) {
          sendBack({ type: 'node.messageReceived', from: parsed.from, payload: parsed.payload })
        } else {
          sendBack({ type: 'node.messageRejected', from: parsed.from, reason: parsed.reason, size: parsed.size })
        }
      }
      libp2p.addEventListener('peer:connect', onConnect)
      libp2p.addEventListener('peer:disconnect', onDisconnect)
      pubsub.addEventListener('message', onMessage)
      return () => {
        libp2p.removeEventListener('peer:connect', onConnect)
        libp2p.removeEventListener('peer:disconnect', onDisconnect)
        pubsub.removeEventListener('message', onMessage)
      }
    })
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequested
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
      entry: assign({ error: undefined, stopRequested: false }),
      on: { stop: { actions: assign({ stopRequested: true }) } },
      invoke: {
        src: 'startNode',
        input: ({ context }) => context.options,
        onDone: [
          { guard: 'stopRequested', target: 'stopping', actions: assign({ node: ({ event }) => event.output }) },
          {
            target: 'online',
            actions: [
              assign({ node: ({ event }) => event.output }),
              emit(({ event }) => ({
                type: 'transport:started' as const,
                peerId: event.output.libp2p.peerId.toString(),
                multiaddrs: event.output.libp2p.getMultiaddrs().map(String)
              }))
            ]
          }
        ],
        onError: {
          target: 'failed',
          actions: [
            assign({ error: ({ event }) => toError(event.error) }),
            emit(({ event }) => ({ type: 'transport:failed' as const, error: toError(event.error) }))
          ]
        }
      }
    },
    online: {
      invoke: { src: 'nodeEvents', input: ({ context }) => ({ node: context.node! }) },
      on: {
        stop: 'stopping',
        'node.peerConnected': {
          actions: emit(({ event }) => ({ type: 'peer:connected' as const, peerId: event.peerId, multiaddrs: event.multiaddrs }))
        },
        'node.peerDisconnected': {
          actions: emit(({ event }) => ({ type: 'peer:disconnected' as const, peerId: event.peerId }))
        },
        'node.messageReceived': {
          actions: emit(({ event }) => ({ type: 'message:received' as const, from: event.from, payload: event.payload }))
        },
        'node.messageRejected': {
          actions: emit(({ event }) => ({ type: 'message:rejected' as const, from: event.from, reason: event.reason, size: event.size }))
        }
      }
    },
    stopping: {
      invoke: {
        src: 'stopNode',
        input: ({ context }) => ({ node: context.node! }),
        onDone: {
          target: 'stopped',
          actions: [
            emit(({ context }) => ({ type: 'transport:stopped' as const, peerId: context.node!.topic })),
            assign({ node: undefined })
          ]
        },
        onError: {
          target: 'failed',
          actions: [
            assign({ error: ({ event }) => toError(event.error), node: undefined }),
            emit(({ event }) => ({ type: 'transport:failed' as const, error: toError(event.error) }))
          ]
        }
      }
    },
    failed: {
      on: { start: 'starting' }
    }
  }
})
