import { z } from 'zod'
import type { Message } from '@libp2p/gossipsub'

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
