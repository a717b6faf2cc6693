/**
 * The side effects of the companions root machine (./companions.machine.ts),
 * each an XState actor: loading the `companions` db and writing it.
 */
import { describeIssues, serialWriter } from '@npp/kit'
import { KeyValue, OWN_DATABASES, openOwnDatabase } from '@npp/transport'
import { fromPromise } from 'xstate'
import { companionMultiaddrs, mergeHosts } from './addresses.js'
import { CompanionRecordSchema } from './schema.js'
import type { CompanionRecord } from './schema.js'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'

export interface LoadInput { transport: Transport, log: Logger }

export interface LoadOutput {
  db: KeyValueDatabase<CompanionRecord>
  records: Record<string, CompanionRecord>
  /** Stored values that failed validation (skipped) */
  invalid: number
}

/** A stored value as the companion record under `key` (its addresses cleaned again), or why it is not one */
function checkRecord (key: string, value: unknown): { reason: string } | { record: CompanionRecord } {
  const parsed = CompanionRecordSchema.safeParse(value)
  if (!parsed.success) return { reason: describeIssues(parsed.error) }
  if (parsed.data.userDb !== key || parsed.data.profile.userDb !== key) return { reason: 'stored under another key than its userDb' }
  return { record: { ...parsed.data, multiaddrs: companionMultiaddrs(parsed.data.profile.nodeId, parsed.data.multiaddrs), hosts: mergeHosts([], parsed.data.hosts) } }
}

/** Open our `companions` db and read every companion back, validated (and its addresses cleaned again) */
export const loadCompanions = fromPromise<LoadOutput, LoadInput>(async ({ input }) => {
  const { transport, log } = input
  const db = await openOwnDatabase(transport.orbitdb, OWN_DATABASES.companions, KeyValue<CompanionRecord>())
  const records: Record<string, CompanionRecord> = {}
  let invalid = 0
  for (const { key, value } of await db.all()) {
    const checked = checkRecord(key, value)
    if ('record' in checked) {
      records[key] = checked.record
    } else {
      invalid++
      log('skipping an invalid companion record under %s: %s', key, checked.reason)
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

export interface StoreInput {
  db: KeyValueDatabase<CompanionRecord>
  log: Logger
}

const keyOf = (command: StoreCommand): string => command.type === 'put' ? command.record.userDb : command.userDb

/**
 * The writer of the `companions` db: applies put/del commands one after the
 * other, in the order they were sent, and reports each one.
 */
export const store = serialWriter<StoreCommand, StoreInput>({
  async apply (command, { db }) {
    if (command.type === 'put') await db.put(command.record.userDb, command.record)
    else await db.del(command.userDb)
  },
  report: (command, error): StoreReport => error == null
    ? { type: 'store.written', userDb: keyOf(command) }
    : { type: 'store.failed', userDb: keyOf(command), error },
  onError (_command, error, { log }) {
    log.error('writing the companions db failed: %s', error.message)
  }
})
