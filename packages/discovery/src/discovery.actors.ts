/**
 * The side effects of discovery's root machine, each an XState actor: our db
 * of removed companions (opened, read back and written one command at a
 * time), the peers connected when discovery starts, and closing companions'
 * dbs.
 */
import { serialWriter } from '@npp/kit'
import { KeyValue, OWN_DATABASES, OrbitDBAddressSchema, openOwnDatabase } from '@npp/transport'
import { fromCallback, fromPromise } from 'xstate'
import { closeQuietly } from './announcement.actors.js'
import { TombstoneSchema } from './schema.js'
import { liveInvites } from './consent.js'
import type { InviteStore, IssuedInvite } from './consent.js'
import type { Tombstone } from './schema.js'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

/** What discovery announces: our `user` db, which the catalog (`@npp/catalog`) owns */
export interface AnnouncedProfile {
  /** Address of our `user` db; read when discovery starts (start the catalog first) */
  readonly userDbAddress: string
}

export interface OpenOwnInput {
  transport: Transport
  catalog: AnnouncedProfile
  /** Where our invites are kept across restarts, if anywhere */
  invites?: InviteStore
  log: Logger
}

export interface OpenOwnOutput {
  /** Address of our `user` db, the one we announce */
  userDb: string
  /** Our db of removed companions */
  removedDb: KeyValueDatabase<Tombstone>
  /** Its valid entries: removed companion's `user` db address -> tombstone */
  removed: Record<string, Tombstone>
  /** Our invites that are still good, by id */
  invites: Record<string, IssuedInvite>
}

/**
 * Learn our `user` db address from the catalog, and open our db of removed
 * companions (KeyValue, owner-only like the others, never announced: key =
 * the removed companion's `user` db address) and read it back, validated.
 */
export const openOwnDatabases = fromPromise<OpenOwnOutput, OpenOwnInput>(async ({ input }) => {
  const { transport, catalog, log } = input
  const userDb = catalog.userDbAddress
  const removedDb = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.removedCompanions, KeyValue<Tombstone>())
  const removed: Record<string, Tombstone> = {}
  for (const { key, value } of await removedDb.all()) {
    const tombstone = TombstoneSchema.safeParse(value)
    if (OrbitDBAddressSchema.safeParse(key).success && tombstone.success) removed[key] = tombstone.data
    else log('skipping an invalid entry of %s under %s', OWN_DATABASES.removedCompanions, key)
  }
  const invites = input.invites == null ? {} : liveInvites(await input.invites.load().catch((err: unknown) => {
    log.error('could not read our invites (they are gone): %s', (err as Error).message)
    return []
  }))
  return { userDb, removedDb, removed, invites }
})

/** Commands of the `inviteWriter` actor: keep these invites (all of them) */
export interface InvitesCommand { type: 'save', store: InviteStore, invites: IssuedInvite[] }

/** What the `inviteWriter` actor reports after each save */
export interface InvitesWritten { type: 'invites.written', error: Error | undefined }

/** The writer of our invites to their store: one save after the other, each reported */
export const inviteWriter = serialWriter<InvitesCommand, { log: Logger }>({
  apply: async (command) => { await command.store.save(command.invites) },
  report: (_command, error): InvitesWritten => ({ type: 'invites.written', error }),
  onError: (_command, error, { log }) => { log.error('saving our invites failed: %s', error.message) }
})

/** Commands of the `removedStore` actor: remember or forget a removed companion */
export type RemovedCommand =
  | { type: 'put', db: KeyValueDatabase<Tombstone>, userDb: string, nodeId: string }
  | { type: 'del', db: KeyValueDatabase<Tombstone>, userDb: string }

/** What the `removedStore` actor reports: one event per command, written or not */
export interface RemovedWritten { type: 'removed.written', userDb: string, error: Error | undefined }

/** The writer of our db of removed companions: one command after the other, each reported */
export const removedStore = serialWriter<RemovedCommand, { log: Logger }>({
  apply: async (command) => {
    if (command.type === 'put') await command.db.put(command.userDb, { nodeId: command.nodeId, removedAt: Date.now() })
    else await command.db.del(command.userDb)
  },
  report: (command, error): RemovedWritten => ({ type: 'removed.written', userDb: command.userDb, error }),
  onError: (_command, error, { log }) => { log.error('writing %s failed: %s', OWN_DATABASES.removedCompanions, error.message) }
})

/** Sent once by `connectedPeers` */
export interface PeersListed { type: 'peers.listed', peers: string[] }

/**
 * Report the peers connected right now, once, at the moment the actor starts
 * (the moment discovery starts running). Later changes arrive as bus events,
 * so nothing in between is missed and no snapshot goes stale.
 */
export const connectedPeers = fromCallback<PeersListed, { transport: Transport, log: Logger }>(({ input, sendBack }) => {
  let peers: string[] = []
  try {
    peers = input.transport.peers().map((p) => p.peerId)
  } catch (err) {
    input.log.error('could not list the connected peers: %s', (err as Error).message)
  }
  sendBack({ type: 'peers.listed', peers })
})

/** Commands of the `closer` actor */
export interface CloseCommand { type: 'close', db: KeyValueDatabase }

/** Closes the dbs it is sent (a companion's that was removed or replaced), in the background */
export const closer = fromCallback<CloseCommand, { log: Logger }>(({ input, receive }) => {
  receive((command) => {
    input.log('closing %s', command.db.address)
    void closeQuietly(command.db, input.log)
  })
})

/** Close every db we opened for companions (on stop) */
export const closeDatabases = fromPromise<void, { dbs: KeyValueDatabase[], log: Logger }>(async ({ input }) => {
  await Promise.all(input.dbs.map(async (db) => { await closeQuietly(db, input.log) }))
})
