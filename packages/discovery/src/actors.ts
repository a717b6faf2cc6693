/**
 * The side effects of discovery, each an XState actor: reading manifests,
 * opening and replicating an announced db, validating its profile, and our
 * own `user` db. The machines in ./machine.ts reference them by name.
 */
import { randomInt } from 'node:crypto'
import { Documents, KeyValue, OWN_DATABASES, nppLogger, openOwnDatabase, readManifest } from '@npp/transport'
import { fromPromise } from 'xstate'
import { ANNOUNCE_TYPE, AccessManifestSchema, ManifestSchema, ProfileSchema, describeIssues } from './schema.js'
import type { RejectionReason } from './schema.js'
import type { CompanionProfile } from '@npp/bus'
import type { KeyValueDatabase, Transport } from '@npp/transport'

const log = nppLogger('discovery')

/** A check that either passed or says why not */
export type Verdict = { ok: true } | { ok: false, reason: RejectionReason, detail: string }

export interface OpenOwnInput {
  transport: Transport
  profile: Record<string, unknown>
}

export interface OpenOwnOutput {
  db: KeyValueDatabase
  /** Peers already connected when we started: they get a child (and an announcement) too */
  connected: string[]
}

/** A random fixture username such as `musician-482913` */
export function randomUsername (): string {
  return `musician-${randomInt(100_000, 1_000_000)}`
}

/**
 * Open our own `user` db. On first start (empty db) write the fixture profile:
 * `username`, `pieces` (address of our own `pieces` Documents db, created
 * empty if nobody created it yet), `nodeId` and `init.profile`. Later starts
 * only repair a wrong `nodeId`.
 */
export const openOwnUserDb = fromPromise<OpenOwnOutput, OpenOwnInput>(async ({ input }) => {
  const { transport, profile } = input
  const db = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.user, KeyValue())
  const entries = await db.all()
  if (entries.length === 0) {
    // Left open: the catalog opens the same db by name and gets this very instance.
    const pieces = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.pieces, Documents({ indexBy: 'hash' }))
    const fixture: Record<string, unknown> = {
      username: randomUsername(),
      ...profile,
      pieces: pieces.address,
      nodeId: transport.peerId
    }
    for (const [key, value] of Object.entries(fixture)) await db.put(key, value)
    log('wrote the fixture profile of %s to %s', fixture.username, db.address)
  } else if (entries.find((e) => e.key === 'nodeId')?.value !== transport.peerId) {
    await db.put('nodeId', transport.peerId)
    log('repaired nodeId in %s', db.address)
  }
  return { db, connected: transport.peers().map((p) => p.peerId) }
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
}

/**
 * Read the announced db's manifest and its access controller's manifest
 * before opening anything, so a db of another type is never opened as
 * KeyValue and `open()` later finds both blocks locally. Throws only when
 * aborted (the bounded wait ran out); every other problem is a verdict.
 */
export const readManifests = fromPromise<Verdict, ManifestInput>(async ({ input, signal }) => {
  const { transport, userDb } = input
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
}

/**
 * Open the announced db as KeyValue with sync off, so `waitReplicated` can
 * listen before the head exchange starts. Closes it again if we were
 * cancelled meanwhile.
 */
export const openDatabase = fromPromise<KeyValueDatabase, OpenInput>(async ({ input, signal }) => {
  const db = await input.transport.orbitdb.open(input.userDb, { Database: KeyValue(), sync: false, signal })
  if (signal.aborted) {
    await closeQuietly(db)
    throw signal.reason
  }
  log('opened %s', input.userDb)
  return db
})

export interface ReplicateInput {
  db: KeyValueDatabase
  from: string
}

/**
 * Start the head exchange and wait (event-driven) for the announcing peer's
 * `join`: OrbitDB emits it after it has received that peer's heads and joined
 * every entry they reference, i.e. when the whole log has arrived.
 */
export const waitReplicated = fromPromise<{ entries: number }, ReplicateInput>(async ({ input, signal }) => {
  const { db, from } = input
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
}

export type ValidateOutput =
  | { ok: true, profile: CompanionProfile, multiaddrs: string[] }
  | { ok: false, reason: RejectionReason, detail: string }

/**
 * Validate the replicated profile: it has `pieces`, `username`, `nodeId`;
 * `nodeId` is the peer that signed the announcement; `pieces` is the address
 * of a Documents db (its manifest is read, the db is not opened). Throws
 * only when aborted.
 */
export const validateProfile = fromPromise<ValidateOutput, ValidateInput>(async ({ input, signal }) => {
  const { transport, db, userDb, from } = input
  const record: Record<string, unknown> = {}
  for (const { key, value } of await db.all()) record[key] = value
  if (!('pieces' in record)) return { ok: false, reason: 'no-pieces', detail: `${userDb} has no "pieces" field` }
  const parsed = ProfileSchema.safeParse(record)
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
  log('validated the profile in %s', userDb)
  const multiaddrs = await transport.addressesOf(from)
  return { ok: true, profile: { userDb, username, pieces, nodeId }, multiaddrs }
})

/** Close a db, ignoring errors (it may be closed already, e.g. after the transport stopped) */
export async function closeQuietly (db: { close(): Promise<void> }): Promise<void> {
  try {
    await db.close()
  } catch (err) {
    log('closing a db failed: %s', (err as Error).message)
  }
}

/** Close one db; the machine bounds how long it waits */
export const closeDatabase = fromPromise<void, { db: KeyValueDatabase }>(async ({ input }) => {
  await closeQuietly(input.db)
})

/** Close every db we opened for companions (on stop) */
export const closeDatabases = fromPromise<void, { dbs: KeyValueDatabase[] }>(async ({ input }) => {
  await Promise.all(input.dbs.map(closeQuietly))
})
