/**
 * The side effects of a companion's replica (see ./replica.machine.ts):
 * opening the companion's pieces db, following its entries, closing it.
 */
import { toError } from '@npp/bus'
import { fromCallback, fromPromise } from 'xstate'
import { openReplicaStore } from './stores.js'
import type { ReplicaStore } from './stores.js'
import type { Entry, Logger, Operation, Transport } from '@npp/transport'

/**
 * What a replica holds: valid pieces (`size`), skipped entries (`invalid`), the
 * log entries its follower applied (`entries`) with their encoded size (`bytes`),
 * and how many entries the companion's log has as far as we know (`known`, see
 * `LogFollower.known`: more than `entries` while a sync is under way)
 */
export interface ReplicaCounts { size: number, invalid: number, entries: number, bytes: number, known: number }

/** What the follower of a replica reports */
export type ReplicaFollowerEvent =
  | ({ type: 'replica.loaded', hasData: boolean } & ReplicaCounts)
  | ({ type: 'replica.synced' } & ReplicaCounts)
  | ({ type: 'replica.changed' } & ReplicaCounts)
  | { type: 'replica.error', error: Error }

export interface OpenReplicaInput {
  transport: Transport
  address: string
  /** The companion's peer id: the db's blocks are asked of it first */
  owner: string
  timeoutMs: number
  log: Logger
}

/** Open the companion's pieces db (validated first, see `openReplicaStore`) */
export const openReplica = fromPromise<ReplicaStore, OpenReplicaInput>(async ({ input, signal }) =>
  await openReplicaStore(input.transport, input.address, { log: input.log, signal, timeoutMs: input.timeoutMs, from: input.owner }))

/** Feeds the index from the db's `verified` and `update` events; a `join` means we synced with a peer */
export const followReplica = fromCallback<ReplicaFollowerEvent, { store: ReplicaStore }>(({ input, sendBack }) => {
  const { db, follower, index } = input.store
  const counts = (): ReplicaCounts => ({ size: index.size, invalid: index.invalid, entries: follower.entries, bytes: follower.bytes, known: follower.known })
  const fail = (err: unknown): void => { sendBack({ type: 'replica.error', error: toError(err) }) }
  const offChange = follower.onChange(() => { sendBack({ type: 'replica.changed', ...counts() }) })
  const onUpdate = (entry: Entry<Operation>): void => { follower.catchUp([entry]).catch(fail) }
  const onJoin = (_peer: unknown, heads: Array<Entry<Operation>>): void => {
    follower.catchUp(heads).then(() => { sendBack({ type: 'replica.synced', ...counts() }) }, fail)
  }
  // entries as OrbitDB verifies them, before a long join ends (only a db opened from a peer has them)
  const onVerified = (entry: Entry<Operation>): void => { follower.verified(entry) }
  db.events.on('verified', onVerified)
  db.events.on('update', onUpdate)
  db.events.on('join', onJoin)
  // Whatever is stored locally (an earlier session's replica), then start
  // exchanging heads (the db was opened with `sync: false`)
  follower.catchUp().then(() => {
    sendBack({ type: 'replica.loaded', hasData: follower.entries > 0, ...counts() })
    return db.sync.start()
  }).catch(fail)
  return () => {
    offChange()
    follower.discardPending()
    db.events.off('verified', onVerified)
    db.events.off('update', onUpdate)
    db.events.off('join', onJoin)
  }
})

/** Stop exchanging heads with peers (a replica over its quota keeps what it has, and nothing more) */
export const stopReplicaSync = fromPromise<void, { store: ReplicaStore }>(async ({ input }) => {
  // at once, as the replica enters overQuota: a join under way goes on verifying entries
  input.store.follower.stop()
  await input.store.follower.idle()
  await input.store.db.sync.stop()
})

/** Close the db once the follower is done with it (nothing to do if it never opened) */
export const closeReplica = fromPromise<void, { store: ReplicaStore | undefined }>(async ({ input }) => {
  if (input.store == null) return
  await input.store.follower.idle()
  await input.store.db.close()
})
