/**
 * Starting a db's head exchange so that it really happens with the peers that
 * have the db open already. OrbitDB 4's `Sync` exchanges heads only when
 * gossipsub reports a `subscription-change`: a peer subscribed to the db's
 * topic before we opened it was reported (in its first RPC to us) before our
 * listener existed, so we never dial it; it dials us when it sees our
 * subscription, but `startSync` subscribes *before* it registers the
 * `/orbitdb/heads/<address>` handler, and when that dial wins the race it
 * fails with `UnsupportedProtocolError`, which OrbitDB skips in silence. Then
 * no `join` ever comes, and a busy machine loses the race more often (the
 * cause of discovery's `not-found` under load).
 */
import type { NppLibp2p } from './node.js'
import type { PeerId } from '@libp2p/interface'
import type { Database } from './orbitdb.js'

/**
 * Start `db`'s sync (a no-op if it runs) and then ask OrbitDB to exchange
 * heads with every peer that is subscribed to the db's topic now, as if each
 * had just subscribed: OrbitDB dials them itself (once per peer; it skips
 * peers it is syncing with already). Returns how many peers were asked.
 *
 * @example
 * ```ts
 * const db = await transport.orbitdb.open(address, { Database: KeyValue(), sync: false })
 * db.events.on('join', (peerId) => console.log('heads from', String(peerId)))
 * await startSync(transport.libp2p, db)
 * ```
 */
export async function startSync (libp2p: NppLibp2p, db: Pick<Database, 'address' | 'sync'>): Promise<number> {
  await db.sync.start()
  const subscribers = libp2p.services.pubsub.getSubscribers(db.address)
  exchangeHeadsWith(libp2p, db.address, subscribers)
  return subscribers.length
}

/**
 * Make OrbitDB's `Sync` of the db at `address` exchange heads with `peers`, as if each
 * had just subscribed to its topic: the same event gossipsub emits when a peer's
 * subscription arrives (every db's Sync ignores topics other than its own, our
 * transport's send() only re-checks subscribers). A peer the Sync counts as synced
 * already (`db.peers`) is skipped by OrbitDB.
 */
export function exchangeHeadsWith (libp2p: NppLibp2p, address: string, peers: PeerId[]): void {
  for (const peerId of peers) {
    libp2p.services.pubsub.dispatchEvent(new CustomEvent('subscription-change', {
      detail: { peerId, subscriptions: [{ topic: address, subscribe: true }] }
    }))
  }
}
