/**
 * The side effects of discovery, each an XState actor: reading manifests,
 * opening and replicating an announced db, validating its profile, and our
 * own `user` db. The machines in ./machine.ts reference them by name.
 */
import { randomInt } from 'node:crypto'
import { Documents, KeyValue, OWN_DATABASES, openOwnDatabase, readManifest } from '@npp/transport'
import { fromCallback, fromPromise } from 'xstate'
import { ANNOUNCE_TYPE, AccessManifestSchema, ManifestSchema, OrbitDBAddressSchema, ProfileSchema, TombstoneSchema, describeIssues } from './schema.js'
import type { RejectionReason, Tombstone } from './schema.js'
import type { CompanionProfile } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

/** A check that either passed or says why not */
export type Verdict = { ok: true } | { ok: false, reason: RejectionReason, detail: string }

/**
 * Name of our own db of removed companions (KeyValue, owner-only like the
 * others, never announced): key = the removed companion's `user` db address,
 * value = {@link Tombstone}.
 */
export const REMOVED_DB = 'removed-companions'

export interface OpenOwnInput {
  transport: Transport
  profile: Record<string, unknown>
  log: Logger
}

export interface OpenOwnOutput {
  /** Our `user` db, with every required profile field present */
  db: KeyValueDatabase
  /** Our db of removed companions */
  removedDb: KeyValueDatabase<Tombstone>
  /** Its valid entries: removed companion's `user` db address -> tombstone */
  removed: Record<string, Tombstone>
}

/** A random fixture username such as `musician-482913` */
export function randomUsername (): string {
  return `musician-${randomInt(100_000, 1_000_000)}`
}

const REQUIRED = new Set(['username', 'pieces', 'nodeId'])
const usableUsername = (value: unknown): value is string => typeof value === 'string' && value.trim().length > 0

/**
 * Make sure our `user` db holds every field a peer needs to accept us, each
 * checked on its own, so that a start that crashed between two writes (or a
 * field written earlier by something else) is completed on the next start:
 * - `username`: written only when missing (or not a non-empty string); a
 *   username the user set is never overwritten. `profile.username` or a
 *   random fixture name.
 * - `pieces`: written when missing or not an OrbitDB address: the address of
 *   our own `pieces` Documents db (created empty if nobody created it yet).
 * - `nodeId`: written whenever it is not our peer id.
 * - every other field of `profile`: written only when missing.
 * Returns the fields it wrote.
 */
export async function ensureProfile (transport: Transport, db: KeyValueDatabase, profile: Record<string, unknown>): Promise<string[]> {
  // A Map: field names come from the db and are never looked up on a prototype
  const current = new Map((await db.all()).map((e) => [e.key, e.value]))
  const writes: Array<[string, unknown]> = []
  for (const [key, value] of Object.entries(profile)) {
    if (!REQUIRED.has(key) && !current.has(key)) writes.push([key, value])
  }
  if (!usableUsername(current.get('username'))) {
    writes.push(['username', usableUsername(profile.username) ? profile.username : randomUsername()])
  }
  if (!OrbitDBAddressSchema.safeParse(current.get('pieces')).success) {
    // Left open: the catalog opens the same db by name and gets this very instance.
    const pieces = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    writes.push(['pieces', pieces.address])
  }
  if (current.get('nodeId') !== transport.peerId) writes.push(['nodeId', transport.peerId])
  for (const [key, value] of writes) await db.put(key, value)
  return writes.map(([key]) => key)
}

/**
 * Open our own `user` db and complete its profile ({@link ensureProfile}),
 * and open our db of removed companions and read it back (validated).
 */
export const openOwnDatabases = fromPromise<OpenOwnOutput, OpenOwnInput>(async ({ input }) => {
  const { transport, profile, log } = input
  const db = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.user, KeyValue())
  const written = await ensureProfile(transport, db, profile)
  if (written.length > 0) log('wrote %s to our profile in %s', written.join(', '), db.address)
  const removedDb = await openOwnDatabase(transport.orbitdb, REMOVED_DB, KeyValue<Tombstone>())
  const removed: Record<string, Tombstone> = {}
  for (const { key, value } of await removedDb.all()) {
    const tombstone = TombstoneSchema.safeParse(value)
    if (OrbitDBAddressSchema.safeParse(key).success && tombstone.success) removed[key] = tombstone.data
    else log('skipping an invalid entry of %s under %s', REMOVED_DB, key)
  }
  return { db, removedDb, removed }
})

/** Commands of the `removedStore` actor: remember or forget a removed companion */
export type RemovedCommand =
  | { type: 'put', db: KeyValueDatabase<Tombstone>, userDb: string, nodeId: string }
  | { type: 'del', db: KeyValueDatabase<Tombstone>, userDb: string }

/** What the `removedStore` actor reports: one event per command, written or not */
export interface RemovedWritten { type: 'removed.written', userDb: string, error: Error | undefined }

/**
 * The writer of our db of removed companions: applies put/del commands one
 * after the other, in the order they were sent, and reports each one.
 */
export const removedStore = fromCallback<RemovedCommand, { log: Logger }>(({ input, receive, sendBack }) => {
  let chain = Promise.resolve()
  let stopped = false
  receive((command) => {
    chain = chain
      .then(async () => {
        if (command.type === 'put') await command.db.put(command.userDb, { nodeId: command.nodeId, removedAt: Date.now() })
        else await command.db.del(command.userDb)
        if (!stopped) sendBack({ type: 'removed.written', userDb: command.userDb, error: undefined } satisfies RemovedWritten)
      })
      .catch((err: unknown) => {
        input.log.error('writing %s failed: %s', REMOVED_DB, (err as Error).message)
        if (!stopped) sendBack({ type: 'removed.written', userDb: command.userDb, error: err instanceof Error ? err : new Error(String(err)) } satisfies RemovedWritten)
      })
  })
  return () => { stopped = true }
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

/** Closes the dbs it is sent (a companion's that was removed or replaced by a newer one), in the background */
export const closer = fromCallback<CloseCommand, { log: Logger }>(({ input, receive }) => {
  receive((command) => {
    input.log('closing %s', command.db.address)
    void closeQuietly(command.db, input.log)
  })
})

export interface AnnounceInput {
  transport: Transport
  peerId: string
  userDb: string
}

/** Send our announcement; `transport.send` waits until the peer is subscribed to its topic */
export const announce = fromPromise<void, AnnounceInput>(async ({ input, signal }) => {
  await input.transport.send(input.peerId, { type: ANNOUNCE_TYPE, v: 1, userDb: input.userDb }, { signal })
})

export interface ManifestInput {
  transport: Transport
  userDb: string
  log: Logger
}

/**
 * Read the announced db's manifest and its access controller's manifest
 * before opening anything, so a db of another type is never opened as
 * KeyValue and `open()` later finds both blocks locally. Throws only when
 * aborted (the bounded wait ran out); every other problem is a verdict.
 */
export const readManifests = fromPromise<Verdict, ManifestInput>(async ({ input, signal }) => {
  const { transport, userDb, log } = input
  let raw: unknown
  try {
    raw = await readManifest(transport.helia, userDb, { signal })
  } catch (err) {
    if (signal.aborted) throw err
    return { ok: false, reason: 'wrong-type', detail: `no OrbitDB manifest at ${userDb}: ${(err as Error).message}` }
  }
  log('read the manifest of %s', userDb)
  const manifest = ManifestSchema.safeParse(raw)
  if (!manifest.success) return { ok: false, reason: 'wrong-type', detail: `not an OrbitDB manifest: ${describeIssues(manifest.error)}` }
  if (manifest.data.type !== 'keyvalue') {
    return { ok: false, reason: 'wrong-type', detail: `${userDb} is a ${manifest.data.type} db; a user db is keyvalue` }
  }
  let rawAccess: unknown
  try {
    rawAccess = await readManifest(transport.helia, manifest.data.accessController.replace(/^\/ipfs\//, ''), { signal })
  } catch (err) {
    if (signal.aborted) throw err
    return { ok: false, reason: 'bad-access', detail: `unreadable access controller: ${(err as Error).message}` }
  }
  log('read the access controller of %s', userDb)
  const access = AccessManifestSchema.safeParse(rawAccess)
  if (!access.success || access.data.type !== 'ipfs') {
    return { ok: false, reason: 'bad-access', detail: 'the access controller is not an IPFSAccessController' }
  }
  if (access.data.write.includes('*') || access.data.write.length === 0) {
    return { ok: false, reason: 'bad-access', detail: 'the db is not write-restricted to its owner' }
  }
  if (access.data.write.includes(transport.orbitdb.identity.id)) {
    // Opening it would hand us our own open instance, which a rejection would close.
    return { ok: false, reason: 'own-db', detail: 'the announced db is one of our own' }
  }
  return { ok: true }
})

export interface OpenInput {
  transport: Transport
  userDb: string
  log: Logger
}

/**
 * Open the announced db as KeyValue with sync off, so `waitReplicated` can
 * listen before the head exchange starts. Closes it again if we were
 * cancelled meanwhile.
 */
export const openDatabase = fromPromise<KeyValueDatabase, OpenInput>(async ({ input, signal }) => {
  const db = await input.transport.orbitdb.open(input.userDb, { Database: KeyValue(), sync: false, signal })
  if (signal.aborted) {
    await closeQuietly(db, input.log)
    throw signal.reason
  }
  input.log('opened %s', input.userDb)
  return db
})

export interface ReplicateInput {
  db: KeyValueDatabase
  from: string
  log: Logger
}

/**
 * Start the head exchange and wait (event-driven) for the announcing peer's
 * `join`: OrbitDB emits it after it has received that peer's heads and joined
 * every entry they reference, i.e. when the whole log has arrived.
 */
export const waitReplicated = fromPromise<{ entries: number }, ReplicateInput>(async ({ input, signal }) => {
  const { db, from, log } = input
  let cleanup = (): void => {}
  const joined = new Promise<void>((resolve, reject) => {
    const onJoin = (peerId: unknown): void => { if (String(peerId) === from) { cleanup(); resolve() } }
    const onAbort = (): void => { cleanup(); reject(signal.reason) }
    cleanup = () => {
      db.events.off('join', onJoin)
      signal.removeEventListener('abort', onAbort)
    }
    db.events.on('join', onJoin)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  await db.sync.start()
  log('waiting for %s to send the heads of %s', from, db.address)
  await joined
  log('joined the heads of %s from %s', db.address, from)
  return { entries: (await db.log.values()).length }
})

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
export function profileRecord (entries: ReadonlyArray<{ key: string, value: unknown }>): Record<string, unknown> {
  const record = Object.create(null) as Record<string, unknown>
  for (const { key, value } of entries) record[key] = value
  return record
}

/**
 * Validate the replicated profile: it has `pieces`, `username`, `nodeId`
 * (own fields only, see {@link profileRecord});
 * `nodeId` is the peer that signed the announcement; `pieces` is the address
 * of a Documents db (its manifest is read, the db is not opened) written by
 * the same owner as the user db (same access controller writers). Throws
 * only when aborted.
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
  let raw: unknown
  try {
    raw = await readManifest(transport.helia, pieces, { signal })
  } catch (err) {
    if (signal.aborted) throw err
    return { ok: false, reason: 'pieces-wrong-type', detail: `no OrbitDB manifest at ${pieces}: ${(err as Error).message}` }
  }
  const manifest = ManifestSchema.safeParse(raw)
  if (!manifest.success || manifest.data.type !== 'documents') {
    const type = manifest.success ? manifest.data.type : 'unknown'
    return { ok: false, reason: 'pieces-wrong-type', detail: `pieces ${pieces} is a ${type} db; expected documents` }
  }
  // The catalog must be written by the owner of the profile: otherwise anyone could
  // present someone else's catalog as their own (found by tests/reliability's hostile peer)
  let rawAccess: unknown
  try {
    rawAccess = await readManifest(transport.helia, manifest.data.accessController.replace(/^\/ipfs\//, ''), { signal })
  } catch (err) {
    if (signal.aborted) throw err
    return { ok: false, reason: 'pieces-not-owned', detail: `unreadable access controller of pieces ${pieces}: ${(err as Error).message}` }
  }
  const access = AccessManifestSchema.safeParse(rawAccess)
  const owners = JSON.stringify([...db.access.write].sort())
  if (!access.success || access.data.type !== 'ipfs' || JSON.stringify([...access.data.write].sort()) !== owners) {
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

/** Close one db (a rejected one, or a companion's that was removed or replaced); the machine bounds how long it waits */
export const closeDatabase = fromPromise<void, { db: KeyValueDatabase, log: Logger }>(async ({ input }) => {
  await closeQuietly(input.db, input.log)
})

/** Close every db we opened for companions (on stop) */
export const closeDatabases = fromPromise<void, { dbs: KeyValueDatabase[], log: Logger }>(async ({ input }) => {
  await Promise.all(input.dbs.map(async (db) => { await closeQuietly(db, input.log) }))
})
