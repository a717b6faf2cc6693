import { backoffDelay } from '@npp/kit'
import { z } from 'zod'
import { MessageNotDeliveredError, PeerNotSubscribedError } from './errors.js'
import type { NppLibp2p } from './node.js'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

/** Largest message accepted on a peer's topic, in bytes of its JSON */
export const MAX_MESSAGE_BYTES = 64 * 1024

/** Why a message on our topic was refused */
export type MessageRejection = 'too-large' | 'not-json' | 'not-object' | 'unsigned'

export type ParsedMessage =
  | { ok: true, from: string, payload: Record<string, unknown> }
  | { ok: false, from: string | undefined, reason: MessageRejection, size: number }

const JsonObject = z.record(z.string(), z.unknown())
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Validate a pubsub message from the network. Never throws: every message is
 * either a JSON object from a verified signer or a rejection with a reason.
 */
export function parseMessage (message: Message): ParsedMessage {
  const size = message.data.byteLength
  if (message.type !== 'signed') {
    return { ok: false, from: undefined, reason: 'unsigned', size }
  }
  const from = message.from.toString()
  if (size > MAX_MESSAGE_BYTES) {
    return { ok: false, from, reason: 'too-large', size }
  }
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(message.data))
  } catch {
    return { ok: false, from, reason: 'not-json', size }
  }
  const parsed = JsonObject.safeParse(json)
  if (!parsed.success) {
    return { ok: false, from, reason: 'not-object', size }
  }
  return { ok: true, from, payload: parsed.data }
}

/** Retries of a publish that reached nobody: 5, 10, 20, 40, 80, then every 100 ms */
const PUBLISH_RETRY = { initialMs: 5, maxMs: 100 }

/** What {@link publishWhenSubscribed} needs of gossipsub */
type PubSub = NppLibp2p['services']['pubsub']

/**
 * Publish `bytes` on `receiver`'s own topic once the receiver is subscribed to
 * it. 1. Wait (event-driven) until its subscription reached us. 2. Publish; the
 * subscription can arrive before our outbound gossipsub stream to it is open,
 * and gossipsub has no event for that stream, so a publish that reached nobody
 * is retried with a short backoff until the deadline.
 */
export async function publishWhenSubscribed (pubsub: PubSub, receiver: PeerId, bytes: Uint8Array, options: { timeoutMs: number, signal?: AbortSignal }): Promise<void> {
  const { timeoutMs, signal } = options
  const topic = receiver.toString()
  const deadline = Date.now() + timeoutMs
  const subscribed = (): boolean => pubsub.getSubscribers(topic).some((p) => p.equals(receiver))
  if (!subscribed()) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        pubsub.removeEventListener('subscription-change', onChange)
        signal?.removeEventListener('abort', onAbort)
        if (err == null) resolve(); else reject(err)
      }
      const onChange = (): void => { if (subscribed()) done() }
      const onAbort = (): void => { done(signal?.reason as Error) }
      const timer = setTimeout(() => { done(new PeerNotSubscribedError(topic, timeoutMs)) }, timeoutMs)
      pubsub.addEventListener('subscription-change', onChange)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
  for (let attempt = 0; ; attempt++) {
    const { recipients } = await pubsub.publish(topic, bytes)
    if (recipients.length > 0) return
    const delay = backoffDelay(attempt, PUBLISH_RETRY)
    if (Date.now() + delay > deadline) throw new MessageNotDeliveredError(topic, timeoutMs)
    signal?.throwIfAborted()
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}
