/** The sources of a query: our catalog, then every known companion's */
import { waitFor } from 'xstate'
import { SourceUnavailableError } from './errors.js'
import { replicaProgress } from './replica.machine.js'
import type { ReplicaRef, replicaMachine } from './replica.machine.js'
import type { OwnStores } from './stores.js'
import type { SourceHandle } from './types.js'
import type { CompanionProfile } from '@npp/bus'
import type { Transport } from '@npp/transport'
import type { SnapshotFrom } from 'xstate'

/** What a source needs to know of a companion */
export interface SourceCompanion {
  profile: CompanionProfile
  peerId: string
  online: boolean
  replica: ReplicaRef | undefined
}

export interface QuerySourcesInput {
  transport: Transport
  stores: OwnStores | undefined
  /** Our `username`, the name of the local source (our peer id when there is none) */
  username: string | undefined
  companions: Iterable<SourceCompanion>
}

/**
 * Whether a replica answers now: synced (`ready`), over its quota (it answers from
 * what it holds), or still waiting for its first sync to end but holding verified
 * entries already (answered as `syncing`)
 */
function answersNow (snapshot: SnapshotFrom<typeof replicaMachine>): boolean {
  return snapshot.matches({ open: 'ready' }) || snapshot.matches({ open: 'overQuota' }) ||
    (snapshot.matches('open') && snapshot.context.entries > 0)
}

/**
 * One handle per source. Building them has no side effect (it runs inside
 * an action); each handle's `answer` runs inside its source's actor.
 */
export function querySources (input: QuerySourcesInput): SourceHandle[] {
  const { transport, stores } = input
  if (stores == null) return []
  // never throw here: the transport may have stopped under us
  const peerId = transport.isStarted() ? transport.peerId : ''
  const local: SourceHandle = {
    source: { kind: 'local', username: input.username ?? peerId, peerId },
    answer: async (filter) => ({ pieces: stores.pieceIndex.find(filter) })
  }
  const companions = [...input.companions].map((c): SourceHandle => ({
    source: { kind: 'companion', username: c.profile.username, peerId: c.peerId },
    answer: async (filter, signal) => {
      if (!c.online || !transport.isConnected(c.peerId)) {
        throw new SourceUnavailableError('offline', `${c.profile.username} (${c.peerId}) is not connected`)
      }
      // Another device of ours, sharing our identity and so our pieces db
      if (c.profile.pieces === stores.pieces.address) return { pieces: stores.pieceIndex.find(filter) }
      if (c.replica == null) throw new SourceUnavailableError('no-replica', `${c.profile.username}'s catalog is not open (more companions are online than catalog option replicas.maxOpen; it opens when another goes offline)`)
      const snapshot = await waitFor(c.replica, (s) => answersNow(s) || s.matches('failed') || s.status !== 'active', { signal })
      const store = snapshot.context.store
      if (!answersNow(snapshot) || store == null) {
        throw new SourceUnavailableError(snapshot.context.reason ?? 'replica-closed', `${c.profile.username}'s catalog could not be opened`, { cause: snapshot.context.error })
      }
      const pieces = store.index.find(filter)
      // while a sync is under way, what is there is answered, with how far the sync is
      const progress = replicaProgress({ entries: store.follower.entries, known: store.follower.known, options: snapshot.context.options })
      return progress.done < progress.known && !snapshot.matches({ open: 'overQuota' }) ? { pieces, syncing: progress } : { pieces }
    }
  }))
  return [local, ...companions]
}
