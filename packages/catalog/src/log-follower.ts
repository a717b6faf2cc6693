/**
 * Feeding an OrbitDB log's entries, each exactly once, to an in-memory index
 * (see ./piece-index.ts), so that reads never scan the log.
 */
import * as dagCbor from '@ipld/dag-cbor'
import PQueue from 'p-queue'
import type { PieceChange } from './types.js'
import type { Entry, Log, Operation } from '@npp/transport'

/** Something that consumes log entries, each exactly once */
export interface EntrySink {
  apply(entries: Array<Entry<Operation>>): PieceChange[]
}

const noop = async (): Promise<void> => {}

/**
 * An entry as OrbitDB hands it over, with what our `Entry` type leaves out:
 * `bytes` (the encoded block, carried by entries some OrbitDB versions decode)
 * and `_payload` (the encrypted payload of a db with payload encryption)
 */
type HandedEntry = Entry<Operation> & { bytes?: unknown, _payload?: unknown }

/**
 * Size in bytes of an entry's block: its `bytes` when it carries them, else the
 * length of its dag-cbor encoding. OrbitDB 4.0.0's `Entry.decode` (hence `log.get`,
 * `log.heads` and the entries of `update` events) returns the decoded fields and
 * `hash`, without `bytes`; encoding them again without `hash` (and with the encrypted
 * payload, as `Entry.encode` does) gives the stored block, byte for byte. (A db with
 * entry encryption stores a larger, encrypted block; the catalog opens none.)
 */
export function encodedSize (entry: Entry<Operation>): number {
  const { hash: _hash, bytes, _payload, ...fields } = entry as HandedEntry
  if (bytes instanceof Uint8Array) return bytes.byteLength
  return dagCbor.encode(_payload === undefined ? fields : { ...fields, payload: _payload }).byteLength
}

/**
 * Feeds every entry of a log exactly once to a sink. OrbitDB emits one
 * `update` per joined head even when the join brought many entries (a
 * companion's 1,000 pieces arrive as one update), so from each new entry we
 * walk back through `next` until we reach entries we have seen: the cost is
 * proportional to what is new, not to the size of the log. Walks run one at
 * a time (a p-queue of concurrency 1), so the sink never sees an entry twice.
 * It counts what it applied: entries and their encoded size (the replica's quotas).
 */
export class LogFollower {
  private readonly seen = new Set<string>()
  private readonly listeners = new Set<(changes: PieceChange[]) => void>()
  private readonly queue = new PQueue({ concurrency: 1 })
  private appliedBytes = 0
  private appliedEntries = 0
  private latestClock = 0
  private readonly batch: Array<Entry<Operation>> = []
  private batchTimer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  /** `batchMs`: how long entries announced by {@link verified} gather before they are applied together */
  constructor (private readonly log: Pick<Log, 'get' | 'heads'>, private readonly sink: EntrySink, private readonly batchMs = 100) {}

  /** Number of entries applied so far */
  get entries (): number { return this.appliedEntries }

  /** Encoded size of the entries applied so far, in bytes (see {@link encodedSize}) */
  get bytes (): number { return this.appliedBytes }

  /**
   * How many entries the log has at least, as far as we know: the highest Lamport
   * clock among the entries applied (a log written by one writer, as a companion's
   * catalog is, has exactly that many entries below its head), or the entries applied
   * when there are more. Below {@link entries} never; above it while a join is under way.
   */
  get known (): number { return Math.max(this.latestClock, this.appliedEntries) }

  /**
   * An entry OrbitDB verified while joining a head (`verified` on a db opened from a
   * peer): applied with the others that arrive within `batchMs`, before the join adds
   * them all to the log. Walks from heads later skip it, as any entry already seen.
   */
  verified (entry: Entry<Operation>): void {
    if (this.stopped || this.seen.has(entry.hash)) return
    this.batch.push(entry)
    if (this.batchTimer == null) {
      this.batchTimer = setTimeout(() => {
        this.batchTimer = undefined
        const entries = this.batch.splice(0)
        void this.queue.add(async () => this.applyFresh(entries.filter((e) => !this.seen.has(e.hash))))
      }, this.batchMs)
    }
  }

  /**
   * Apply nothing more, from now on: the sink keeps what it has (a replica past its
   * quota answers from what it holds while a join already under way goes on)
   */
  stop (): void {
    this.stopped = true
    this.discardPending()
  }

  /** Forget verified entries not applied yet (the db is closing) */
  discardPending (): void {
    clearTimeout(this.batchTimer)
    this.batchTimer = undefined
    this.batch.length = 0
  }

  /** Apply every unseen entry reachable from `from` (default: the log's heads) */
  async catchUp (from?: Array<Entry<Operation>>): Promise<PieceChange[]> {
    return await this.queue.add(async () => await this.walk(from ?? await this.log.heads()))
  }

  /** Make sure the entry `hash` (just written by us) has been applied */
  async include (hash: string): Promise<PieceChange[]> {
    if (this.seen.has(hash)) {
      // seen when its walk started: wait for that walk to end
      await this.idle()
      return []
    }
    const entry = await this.log.get(hash)
    return entry == null ? [] : await this.catchUp([entry])
  }

  /** Call `listener` with the changes of every catch-up that changed something, whoever started it */
  onChange (listener: (changes: PieceChange[]) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Resolves when every catch-up started so far is done (not waiting for later ones) */
  async idle (): Promise<void> { await this.queue.add(noop) }

  private async walk (from: Array<Entry<Operation>>): Promise<PieceChange[]> {
    if (this.stopped) return []
    const fresh: Array<Entry<Operation>> = []
    const stack = from.filter((e) => e != null && !this.seen.has(e.hash))
    for (const e of stack) this.seen.add(e.hash)
    while (stack.length > 0) {
      const entry = stack.pop()!
      fresh.push(entry)
      const missing = entry.next.filter((h) => !this.seen.has(h))
      for (const h of missing) this.seen.add(h)
      const parents = await Promise.all(missing.map(async (h) => await this.log.get(h)))
      for (const p of parents) if (p != null) stack.push(p)
    }
    return this.applyFresh(fresh)
  }

  /** Apply entries none of which was applied before (and mark them seen) */
  private applyFresh (fresh: Array<Entry<Operation>>): PieceChange[] {
    if (fresh.length === 0 || this.stopped) return []
    this.appliedEntries += fresh.length
    for (const entry of fresh) {
      this.seen.add(entry.hash)
      this.appliedBytes += encodedSize(entry)
      if (entry.clock?.time > this.latestClock) this.latestClock = entry.clock.time
    }
    const changes = this.sink.apply(fresh)
    if (changes.length > 0) for (const listener of this.listeners) listener(changes)
    return changes
  }
}
