/**
 * The side effects of the transport machine (./transport.machine.ts), each an
 * XState actor: starting and stopping the node, and listening to it.
 */
import { fromCallback, fromPromise } from 'xstate'
import { parseMessage } from './messages.js'
import { startNode } from './node.js'
import type { Node, NodeOptions } from './node.js'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { Connection, PeerId } from '@libp2p/interface'

/** Events the node's listeners send to the machine */
export type NodeEvent =
  | { type: 'node.peerConnected', peerId: string, multiaddrs: string[] }
  | { type: 'node.peerDisconnected', peerId: string }
  | { type: 'node.messageReceived', from: string, payload: Record<string, unknown> }
  | { type: 'node.messageRejected', from: string | undefined, reason: string, size: number }

/** Build and start libp2p, Helia and OrbitDB in the repo (see `startNode`) */
export const startNodeActor = fromPromise<Node, NodeOptions>(async ({ input }) => await startNode(input))

/** Close the node: OrbitDB, Helia, libp2p, the stores and the repo lock */
export const stopNodeActor = fromPromise<void, { node: Node }>(async ({ input }) => { await input.node.close() })

/**
 * libp2p's `peer:connect`/`peer:disconnect` and the messages on our own topic
 * (validated by `parseMessage`), as {@link NodeEvent}s; unsubscribes on stop.
 *
 * Messages on our topic are taken in gossipsub's topic validator, which then
 * answers `ignore`: a message addressed to us is never forwarded (nobody else
 * has a reason to be subscribed to our topic) and never kept in gossipsub's
 * message cache for gossip (5 heartbeats of every message, up to 4 MiB each: a
 * flood of large messages held some 100 MB there, and the process kept the
 * memory after it was freed).
 */
export const nodeEventsActor = fromCallback<NodeEvent, { node: Node }>(({ input, sendBack }) => {
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
  const onMessage = (_from: PeerId, message: Message): TopicValidatorResult => {
    const parsed = parseMessage(message)
    if (parsed.ok) {
      sendBack({ type: 'node.messageReceived', from: parsed.from, payload: parsed.payload })
    } else {
      sendBack({ type: 'node.messageRejected', from: parsed.from, reason: parsed.reason, size: parsed.size })
    }
    return TopicValidatorResult.Ignore
  }
  libp2p.addEventListener('peer:connect', onConnect)
  libp2p.addEventListener('peer:disconnect', onDisconnect)
  pubsub.topicValidators.set(topic, onMessage)
  return () => {
    libp2p.removeEventListener('peer:connect', onConnect)
    libp2p.removeEventListener('peer:disconnect', onDisconnect)
    if (pubsub.topicValidators.get(topic) === onMessage) pubsub.topicValidators.delete(topic)
  }
})
