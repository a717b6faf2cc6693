/**
 * The side effects of validating one announced db, each an XState actor:
 * asking libp2p whether the announcer serves the db, inspecting its manifests,
 * opening and replicating it, validating its profile, closing it again.
 */
import { describeIssues } from '@npp/kit'
import { KeyValue, inspectDatabase, startSync } from '@npp/transport'
import { peerIdFromString } from '@libp2p/peer-id'
import { fromPromise } from 'xstate'
import { DiscoveryError } from './errors.js'
import { ProfileSchema } from './schema.js'
import type { RejectionReason } from './schema.js'
import type { CompanionProfile } from '@npp/bus'
import type { InspectionProblem, KeyValueDatabase, Logger, Transport } from '@npp/transport'

/** A check that either passed or says why not */
export type Verdict = { ok: true } | { ok: false, reason: RejectionReason, detail: string }

/** `from`: the announcer, whom the db's blocks are asked of first */
export interface DbInput { transport: Transport, userDb: string, from: string, log: Logger }

/**
 * Whether the announcing peer serves the db: it has it open with sync, so it
 * is subscribed to the db's topic (gossipsub tells every connected peer about
 * every subscription), or libp2p's identify lists OrbitDB's
 * `/orbitdb/heads/<address>` protocol for it. Only evidence, never a verdict:
 * it tells a db that is too slow to arrive from one that nobody has.
 */
export const probeServed = fromPromise<boolean, DbInput>(async ({ input }) => {
  const { transport, userDb, from } = input
  try {
    if (transport.libp2p.services.pubsub.getSubscribers(userDb).some((peer) => peer.toString() === from)) return true
    const peer = await transport.libp2p.peerStore.get(peerIdFromString(from))
    return peer.protocols.includes(`/orbitdb/heads${userDb}`)
  } catch {
    return false
  }
})

/**
 * What an inspection problem of the announced db means. A fetch that failed
 * (`no-manifest`, `unreadable-access`: Helia's `blockstore.get` also throws
 * when telling the other peers that want the block about it fails, e.g. a
 * dial that timed out on a busy machine, with the block already stored) says
 * nothing about the db: it did not arrive, and is retried like a manifest
 * that came too late. Only what the manifests say is final.
 */
const USER_DB_PROBLEMS: Record<InspectionProblem, RejectionReason> = {
  'no-manifest': 'replication-timeout',
  'bad-manifest': 'wrong-type',
  'wrong-type': 'wrong-type',
  'unreadable-access': 'replication-timeout',
  'bad-access': 'bad-access'
}

/**
 * Inspect the announced db's manifest and its access controller's manifest
 * before opening anything, so a db of another type is never opened as
 * KeyValue and `open()` later finds both blocks locally. Throws only when
 * aborted (the bounded wait ran out); every other problem is a verdict.
 */
export const readManifests = fromPromise<Verdict, DbInput>(async ({ input, signal }) => {
  const { transport, userDb, from, log } = input
  const inspection = await inspectDatabase(transport.helia, userDb, { type: 'keyvalue', signal, from })
  if (!inspection.ok) return { ok: false, reason: USER_DB_PROBLEMS[inspection.problem], detail: inspection.detail }
  log('read the manifests of %s', userDb)
  if (inspection.writers.includes(transport.orbitdb.identity.id)) {
    // Opening it would hand us our own open instance, which a rejection would close.
    return { ok: false, reason: 'own-db', detail: 'the announced db is one of our own' }
  }
  return { ok: true }
})

/**
 * Open the announced db as KeyValue with sync off, so `waitReplicated` can
 * listen before the head exchange starts. Closes it again if we were
 * cancelled meanwhile.
 */
export const openDatabase = fromPromise<KeyValueDatabase, DbInput>(async ({ input, signal }) => {
  const db = await input.transport.orbitdb.open(input.userDb, { Database: KeyValue(), sync: false, signal, from: input.from })
  if (signal.aborted) {
    await closeQuietly(db, input.log)
    throw signal.reason
  }
  input.log('opened %s', input.userDb)
  return db
})

export interface ReplicateInput {
  transport: Transport
  db: KeyValueDatabase
  from: string
  log: Logger
}

/**
 * Start the head exchange with every peer that has the db open
 * (`startSync`: OrbitDB alone would wait for them to dial us, a race it can
 * lose in silence) and wait, event-driven, for the announcer's `join`:
 * OrbitDB emits it after it received that peer's heads and joined every
 * entry they reference, i.e. when the whole log has arrived. (It emits
 * `join` for a peer that sent no heads too: only the announcer's count.)
 *
 * OrbitDB emits that `join` also when joining the heads failed (it only
 * logs the error): an entry before the head, or its writer's identity,
 * could not be fetched in time, which a busy machine sees. The announcer's
 * own `user` db is never empty, so an empty log after its `join` is a
 * replication that did not finish: it rejects (retried as
 * `replication-timeout`), never validated as a profile without fields.
 */
export const waitReplicated = fromPromise<{ entries: number, via: string }, ReplicateInput>(async ({ input, signal }) => {
  const { transport, db, from, log } = input
  let cleanup = (): void => {}
  const joined = new Promise<string>((resolve, reject) => {
    // Only the announcer's heads: another peer that opened the db may hold none or an older part of it
    const onJoin = (peerId: unknown): void => { if (String(peerId) === from) { cleanup(); resolve(String(peerId)) } }
    const onAbort = (): void => { cleanup(); reject(signal.reason) }
    cleanup = () => {
      db.events.off('join', onJoin)
      signal.removeEventListener('abort', onAbort)
    }
    db.events.on('join', onJoin)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  const asked = await startSync(transport.libp2p, db)
  log('waiting for the heads of %s (announced by %s; %d peers have it open)', db.address, from, asked)
  const via = await joined
  const entries = (await db.log.values()).length
  if (entries === 0) throw new HeadsNotJoinedError(db.address, via)
  log('joined the heads of %s from %s', db.address, via)
  return { entries, via }
})

/**
 * An announced db's heads came from its announcer, but none of its entries could be
 * joined (OrbitDB only logs why: an entry or its writer's identity did not arrive in
 * time). Thrown inside a validation, which retries it as `replication-timeout`; it never
 * reaches a caller, so it is not exported.
 */
export class HeadsNotJoinedError extends DiscoveryError {
  override readonly kind = 'timeout'
  constructor (address: string, from: string) {
    super(`The heads of ${address} from ${from} were exchanged but none of its entries could be joined (an entry or its writer's identity did not arrive in time); it is tried again`)
  }
}

export interface ValidateInput {
  transport: Transport
  db: KeyValueDatabase
  userDb: string
  from: string
  log: Logger
}

export type ValidateOutput =
  | { ok: true, profile: CompanionProfile, multiaddrs: string[] }
  | { ok: false, reason: RejectionReason, detail: string }

/**
 * The fields of a remote `user` db as an object without a prototype: keys
 * are the db's (untrusted); on a null-prototype object a `__proto__` or
 * `constructor` key is just an own field, and nothing is ever inherited.
 */
function profileRecord (entries: ReadonlyArray<{ key: string, value: unknown }>): Record<string, unknown> {
  const record = Object.create(null) as Record<string, unknown>
  for (const { key, value } of entries) record[key] = value
  return record
}

/** As {@link USER_DB_PROBLEMS}: a pieces manifest whose fetch failed did not arrive (retried), it is not of a wrong type */
const PIECES_PROBLEMS: Record<InspectionProblem, RejectionReason> = {
  'no-manifest': 'pieces-not-found',
  'bad-manifest': 'pieces-wrong-type',
  'wrong-type': 'pieces-wrong-type',
  'unreadable-access': 'pieces-not-found',
  'bad-access': 'pieces-not-owned'
}

/**
 * Validate the replicated profile: it has `pieces`, `username`, `nodeId`
 * (own fields only); `nodeId` is the peer that signed the announcement;
 * `pieces` is the address of a Documents db (its manifests are inspected,
 * the db is not opened) written by the same owner as the user db (same
 * access controller writers). Throws only when aborted.
 */
export const validateProfile = fromPromise<ValidateOutput, ValidateInput>(async ({ input, signal }) => {
  const { transport, db, userDb, from, log } = input
  const record = profileRecord(await db.all())
  const field = (name: string): unknown => Object.hasOwn(record, name) ? record[name] : undefined
  if (!Object.hasOwn(record, 'pieces')) return { ok: false, reason: 'no-pieces', detail: `${userDb} has no "pieces" field` }
  // only the three fields, copied from own properties: zod never sees the rest
  const parsed = ProfileSchema.safeParse({ username: field('username'), pieces: field('pieces'), nodeId: field('nodeId') })
  if (!parsed.success) return { ok: false, reason: 'invalid-profile', detail: describeIssues(parsed.error) }
  const { username, pieces, nodeId } = parsed.data
  if (nodeId !== from) {
    return { ok: false, reason: 'node-id-mismatch', detail: `nodeId ${nodeId} is not the announcing peer ${from}` }
  }
  const inspection = await inspectDatabase(transport.helia, pieces, { type: 'documents', signal, from })
  if (!inspection.ok) return { ok: false, reason: PIECES_PROBLEMS[inspection.problem], detail: `pieces: ${inspection.detail}` }
  // The catalog must be written by the owner of the profile: otherwise anyone could
  // present someone else's catalog as their own (found by tests/reliability's hostile peer)
  const owners = JSON.stringify([...db.access.write].sort())
  if (JSON.stringify(inspection.writers) !== owners) {
    return { ok: false, reason: 'pieces-not-owned', detail: `pieces ${pieces} is not written by the owner of ${userDb} (writers ${owners})` }
  }
  log('validated the profile in %s', userDb)
  const multiaddrs = await transport.addressesOf(from)
  return { ok: true, profile: { userDb, username, pieces, nodeId }, multiaddrs }
})

/** Close a db, ignoring errors (it may be closed already, e.g. after the transport stopped) */
export async function closeQuietly (db: { close(): Promise<void> }, log: Logger): Promise<void> {
  try {
    await db.close()
  } catch (err) {
    log('closing a db failed: %s', (err as Error).message)
  }
}

/** Close one db (a rejected one); the machine bounds how long it waits */
export const closeDatabase = fromPromise<void, { db: KeyValueDatabase, log: Logger }>(async ({ input }) => {
  await closeQuietly(input.db, input.log)
})
