/**
 * The side effects of companions, each an XState actor: loading and writing
 * the `companions` db, checking and dialling a companion, and watching its
 * addresses. The machines in ./machine.ts reference them by name.
 */
import { KeyValue, OWN_DATABASES, openOwnDatabase } from '@npp/transport'
import { fromCallback, fromPromise } from 'xstate'
import { companionMultiaddrs } from './addresses.js'
import { CompanionRecordSchema } from './schema.js'
import type { CompanionProfile } from '@npp/bus'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

/** One companion as stored in the `companions` db (key: `userDb`) */
export interface CompanionRecord {
  /** The companion's `user` db address: its key */
  userDb: string
  profile: CompanionProfile
  /** Where it was last reachable, each with `/p2p/<peer id>`; at most 8, best first (see `companionMultiaddrs`) */
  multiaddrs: string[]
  /** When it was discovered first (ms since the epoch) */
  firstSeen: number
  /** When it was last connected (ms since the epoch) */
  lastSeen: number
}

export interface LoadInput { transport: Transport, log: Logger }

export interface LoadOutput {
  db: KeyValueDatabase<CompanionRecord>
  records: Record<string, CompanionRecord>
  /** Stored values that failed validation (skipped) */
  invalid: number
}

/** Open our `companions` db and read every companion back, validated (and its addresses cleaned again) */
export const loadCompanions = fromPromise<LoadOutput, LoadInput>(async ({ input }) => {
  const { transport, log } = input
  const db = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.companions, KeyValue<CompanionRecord>())
  const records: Record<string, CompanionRecord> = {}
  let invalid = 0
  for (const { key, value } of await db.all()) {
    const parsed = CompanionRecordSchema.safeParse(value)
    if (parsed.success && parsed.data.userDb === key && parsed.data.profile.userDb === key) {
      records[key] = { ...parsed.data, multiaddrs: companionMultiaddrs(parsed.data.profile.nodeId, parsed.data.multiaddrs) }
    } else {
      invalid++
      log('skipping an invalid companion record under %s', key)
    }
  }
  log('loaded %d companions from %s', Object.keys(records).length, db.address)
  return { db, records, invalid }
})

/** Commands the `store` actor accepts */
export type StoreCommand =
  | { type: 'put', record: CompanionRecord }
  | { type: 'del', userDb: string }

/** What the `store` actor reports back: one event per command */
export type StoreReport =
  | { type: 'store.written', userDb: string }
  | { type: 'store.failed', userDb: string, error: Error }

/**
 * The writer of the `companions` db: applies put/del commands one after the
 * other, in the order they were sent, and reports each one.
 */
export const store = fromCallback<StoreCommand, { db: KeyValueDatabase<CompanionRecord>, log: Logger }>(({ input, receive, sendBack }) => {
  let chain = Promise.resolve()
  let stopped = false
  receive((command) => {
    const userDb = command.type === 'put' ? command.record.userDb : command.userDb
    chain = chain
      .then(async () => {
        if (command.type === 'put') await input.db.put(userDb, command.record)
        else await input.db.del(userDb)
        if (!stopped) sendBack({ type: 'store.written', userDb } satisfies StoreReport)
      })
      .catch((err: unknown) => {
        input.log.error('writing the companions db failed: %s', (err as Error).message)
        if (!stopped) sendBack({ type: 'store.failed', userDb, error: err instanceof Error ? err : new Error(String(err)) } satisfies StoreReport)
      })
  })
  return () => { stopped = true }
})

export interface CheckInput {
  transport: Transport
  peerId: string
}

/**
 * Whether the companion is connected right now, asked of the transport at the
 * moment the companion's actor decides (not a snapshot taken earlier, e.g.
 * while loading). Rejects if the transport cannot tell (e.g. a malformed
 * peer id), which the machine treats as not connected.
 */
export const checkConnection = fromPromise<boolean, CheckInput>(async ({ input }) => input.transport.isConnected(input.peerId))

export interface DialInput {
  transport: Transport
  peerId: string
  /** The companion's stored addresses (already cleaned, see `companionMultiaddrs`) */
  multiaddrs: string[]
  /** Per address (default 5 000 ms) */
  timeoutMs?: number
}

/**
 * Dial a companion at its stored addresses, one after the other. Resolves with
 * whether it is connected now; rejects with the last error. Only our stored
 * addresses are dialled, never the peer id alone: that would let libp2p dial
 * whatever addresses the peer told it about (identify).
 *
 * The actor's signal is deliberately not passed to libp2p: the machine leaves
 * `reconnecting` (which aborts the signal) as soon as `peer:connected`
 * arrives, and libp2p emits that before the dial resolves; aborting then
 * would tear down the very connection that just opened. An abandoned dial
 * ends by itself within `timeoutMs`; the signal only stops further attempts.
 */
export const dial = fromPromise<{ connected: boolean }, DialInput>(async ({ input, signal }) => {
  const { transport, peerId } = input
  let lastError: unknown = new Error(`no stored address to dial ${peerId}; it is back when it connects to us`)
  for (const address of input.multiaddrs) {
    signal.throwIfAborted()
    if (transport.isConnected(peerId)) return { connected: true }
    try {
      await transport.connect(address, { timeoutMs: input.timeoutMs ?? 5_000 })
      return { connected: transport.isConnected(peerId) }
    } catch (err) {
      lastError = err
    }
  }
  if (transport.isConnected(peerId)) return { connected: true }
  throw lastError
})

export interface WatchAddressesInput {
  transport: Transport
  peerId: string
  log: Logger
}

/** Reported by `watchAddresses` */
export interface AddressesEvent { type: 'addresses', multiaddrs: string[] }

/**
 * While a companion is online: report its addresses now and every time
 * libp2p's peer store learns new ones for it (identify), cleaned and ranked
 * by `companionMultiaddrs`: the addresses we dialled it at first, then those
 * on the hosts its connections come from, then what it only told us.
 */
export const watchAddresses = fromCallback<AddressesEvent, WatchAddressesInput>(({ input, sendBack }) => {
  const { transport, peerId, log } = input
  let stopped = false
  const libp2p = transport.libp2p
  const report = (): void => {
    const connections = libp2p.getConnections().filter((c) => c.remotePeer.toString() === peerId)
    const dialled = connections.filter((c) => c.direction === 'outbound').map((c) => c.remoteAddr.toString())
    const hosts = connections.map((c) => c.remoteAddr.getComponents()[0]?.value ?? '')
    transport.addressesOf(peerId)
      .then((announced) => {
        const multiaddrs = companionMultiaddrs(peerId, announced, { dialled, hosts })
        if (!stopped && multiaddrs.length > 0) sendBack({ type: 'addresses', multiaddrs })
      })
      .catch((err: unknown) => { log('no addresses of %s: %s', peerId, (err as Error).message) })
  }
  const onUpdate = (evt: CustomEvent<{ peer: { id: { toString(): string } } }>): void => {
    if (evt.detail.peer.id.toString() === peerId) report()
  }
  libp2p.addEventListener('peer:update', onUpdate)
  report()
  return () => {
    stopped = true
    libp2p.removeEventListener('peer:update', onUpdate)
  }
})
