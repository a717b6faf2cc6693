/**
 * The side effects of the catalog's root machine (see ./catalog.machine.ts):
 * the bus seam, opening and closing our stores (and completing our profile),
 * following our own dbs, and one write.
 */
import { fromBus, toError } from '@npp/bus'
import { fromCallback, fromPromise } from 'xstate'
import { completeProfile } from './profile.js'
import { closeOwnStores, openOwnStores } from './stores.js'
import { performWrite } from './writes.js'
import type { OwnStores, ReplicaStore } from './stores.js'
import type { PieceChange } from './types.js'
import type { WriteOp, WriteOutput } from './writes.js'
import type { Entry, Logger, Operation, Transport } from '@npp/transport'

/** The bus events the catalog follows: who our companions are, and whether they are online */
export const COMPANION_EVENTS = ['companion:discovered', 'companion:online', 'companion:offline', 'companion:removed'] as const

/** Turns {@link COMPANION_EVENTS} into machine events */
export const bus = fromBus(COMPANION_EVENTS)

export interface OpenStoresInput {
  transport: Transport
  log: Logger
  /** Fields to start our profile with (see `completeProfile`) */
  profile: Record<string, unknown> | undefined
}

/**
 * Open our dbs, build their indexes, and write every required profile field
 * that is missing (each on its own: a start that crashed halfway is completed
 * by the next one)
 */
export const openStores = fromPromise<OwnStores, OpenStoresInput>(async ({ input, signal }) => {
  const { transport, log } = input
  const stores = await openOwnStores(transport.orbitdb, log, signal)
  const written = await completeProfile(stores.user, { pieces: stores.pieces.address, nodeId: transport.peerId, fixture: input.profile })
  if (written.length > 0) log('wrote %s to our profile in %s', written.join(', '), stores.user.address)
  return stores
})

export interface CloseStoresInput {
  stores: OwnStores | undefined
  /** Replicas that are open */
  replicas: ReplicaStore[]
  transport: Transport
}

/** Close the replicas still open and what only the catalog uses of our own dbs */
export const closeStores = fromPromise<void, CloseStoresInput>(async ({ input }) => {
  const results = await Promise.allSettled([
    ...input.replicas.map(async (r) => { await r.follower.idle(); await r.db.close() }),
    input.stores == null ? Promise.resolve() : closeOwnStores(input.stores)
  ])
  const failed = results.find((r) => r.status === 'rejected')
  // a transport that stopped first has closed every db with its OrbitDB already
  if (failed != null && input.transport.isStarted()) throw failed.reason
})

/** What following our own dbs reports */
export type OwnStoreEvent =
  | { type: 'own.changed', changes: PieceChange[] }
  | { type: 'profile.username', username: string | undefined }

/** Keeps our indexes up to date from our dbs' `update` events (local writes and other devices of ours), and our username */
export const followOwn = fromCallback<OwnStoreEvent, { stores: OwnStores }>(({ input, sendBack }) => {
  const { pieces, practice, user, piecesFollower, practiceFollower } = input.stores
  const report = (changes: PieceChange[]): void => { sendBack({ type: 'own.changed', changes }) }
  const ignore = (): void => {}
  const offPieces = piecesFollower.onChange(report)
  const offPractice = practiceFollower.onChange(report)
  const onPieces = (entry: Entry<Operation>): void => { piecesFollower.catchUp([entry]).catch(ignore) }
  const onPractice = (entry: Entry<Operation>): void => { practiceFollower.catchUp([entry]).catch(ignore) }
  const readUsername = (): void => {
    user.get('username').then((value) => {
      sendBack({ type: 'profile.username', username: typeof value === 'string' ? value : undefined })
    }, ignore)
  }
  pieces.events.on('update', onPieces)
  practice.events.on('update', onPractice)
  user.events.on('update', readUsername)
  // entries that arrived between opening and now
  piecesFollower.catchUp().catch(ignore)
  practiceFollower.catchUp().catch(ignore)
  readUsername()
  return () => {
    offPieces()
    offPractice()
    pieces.events.off('update', onPieces)
    practice.events.off('update', onPractice)
    user.events.off('update', readUsername)
  }
})

export interface WriteInput {
  stores: OwnStores
  transport: Transport
  op: WriteOp
  log: Logger
}

/** One write to our stores (see `performWrite`); its output or error is the facade's answer */
export const write = fromPromise<WriteOutput, WriteInput>(async ({ input, signal }) => {
  try {
    return await performWrite(input.stores, input.transport, input.op, signal)
  } catch (err) {
    input.log('%s failed: %s', input.op.kind, toError(err).message)
    throw err
  }
})
