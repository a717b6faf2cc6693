/**
 * OrbitDB's head announcements, at most one per db per interval.
 *
 * OrbitDB's `Sync` publishes every entry it appends on the db's topic, and `put`
 * waits for that publish: gossipsub signs and sends a message per entry (~0.2 ms of a
 * put), and every companion joins every one. A log entry points to the heads before
 * it, so a later head of the same db makes every earlier one redundant: a receiver's
 * join fetches what it lacks below the head it got. Here the first head of a burst is
 * published at once, the ones that follow within `intervalMs` only as the last of
 * them, once the interval ends: a bulk import of 10,000 pieces announces a few hundred
 * heads instead of 10,000, and a single put is announced as soon as before.
 */
import { overriding } from './providers.js'
import type { NppLibp2p } from './node.js'
import type { Logger } from '@libp2p/interface'

/** How long a db's heads are held back after one was published (ms) */
export const HEADS_INTERVAL_MS = 50
/** Topics of OrbitDB dbs (OrbitDB's Sync publishes on the db's address) */
const DB_TOPIC = '/orbitdb/'

type PubSub = NppLibp2p['services']['pubsub']

/**
 * `libp2p` whose pubsub publishes heads on db topics as described above (other topics
 * unchanged); `stop()` drops heads still held back (a peer exchanges heads with us
 * when it connects again).
 */
export function coalesceHeads (libp2p: NppLibp2p, options: { intervalMs?: number, log: Logger }): { libp2p: NppLibp2p, stop: () => void } {
  const intervalMs = options.intervalMs ?? HEADS_INTERVAL_MS
  const pubsub = libp2p.services.pubsub
  /** Per topic: the timer of its interval, and the head held back in it */
  const held = new Map<string, { timer: ReturnType<typeof setTimeout>, bytes?: Uint8Array }>()
  const open = (topic: string): void => {
    const timer = setTimeout(() => {
      const bytes = held.get(topic)?.bytes
      held.delete(topic)
      if (bytes == null) return
      open(topic)
      pubsub.publish(topic, bytes).catch((err: unknown) => { options.log.error('publishing heads of %s failed: %e', topic, err) })
    }, intervalMs)
    timer.unref?.()
    held.set(topic, { timer })
  }
  const publish: PubSub['publish'] = async (topic, data) => {
    if (!topic.startsWith(DB_TOPIC) || data == null) return await pubsub.publish(topic, data)
    const interval = held.get(topic)
    if (interval != null) {
      interval.bytes = data
      return { recipients: [] }
    }
    open(topic)
    return await pubsub.publish(topic, data)
  }
  const wrapped = overriding(libp2p, { services: overriding(libp2p.services, { pubsub: overriding(pubsub, { publish }) }) })
  const stop = (): void => {
    for (const { timer } of held.values()) clearTimeout(timer)
    held.clear()
  }
  return { libp2p: wrapped, stop }
}
