/**
 * In-memory views of OrbitDB logs, kept up to date from the log's entries so
 * that reads never scan the log (`Documents.query` walks every entry: ~300 ms
 * per 1,000 documents here; a lookup in these maps takes microseconds).
 */
import { describeIssues } from '@npp/kit'
import { PracticeEventSchema, StoredPieceSchema, canonicalCid } from './schema.js'
import type { EntrySink } from './log-follower.js'
import type { Piece, PieceChange, PieceFilter } from './types.js'
import type { Entry, Operation } from '@npp/transport'

/** Last-write-wins order of OrbitDB (clock time, then clock id); the entry hash breaks the last ties */
function isNewer (a: Entry, b: { time: number, id: string, hash: string }): boolean {
  if (a.clock.time !== b.time) return a.clock.time > b.time
  if (a.clock.id !== b.id) return a.clock.id > b.id
  return a.hash > b.hash
}

interface Slot { time: number, id: string, hash: string, piece: Piece | undefined }

function lower (s: string): string { return s.trim().toLowerCase() }

function matchesText (piece: Piece, text: string): boolean {
  return (piece.title?.toLowerCase().includes(text) ?? false) ||
    (piece.composer?.toLowerCase().includes(text) ?? false) ||
    (piece.notes?.toLowerCase().includes(text) ?? false)
}

function byAddedAt (a: Piece, b: Piece): number {
  return a.addedAt - b.addedAt || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0)
}

/**
 * The pieces of one Documents db (indexed by `hash`), with the same
 * last-write-wins result as `Documents.get/query` but answered from maps.
 * Entries that fail validation (untrusted companions' dbs) are skipped and
 * counted in `invalid`, never thrown.
 */
export class PieceIndex implements EntrySink {
  /** `onInvalid` hears about every skipped entry and why (e.g. to log it) */
  constructor (private readonly options: { onInvalid?: (entry: Entry<Operation>, reason: string) => void } = {}) {}

  private readonly slots = new Map<string, Slot>()
  private readonly pieces = new Map<string, Piece>()
  private readonly instruments = new Map<string, Map<string, Piece>>()
  /** Entries skipped because they did not validate */
  invalid = 0

  get size (): number { return this.pieces.size }

  get (hash: string): Piece | undefined { return this.pieces.get(hash) }

  all (): Piece[] { return [...this.pieces.values()].sort(byAddedAt) }

  byInstrument (instrument: string): Piece[] {
    return [...(this.instruments.get(lower(instrument))?.values() ?? [])].sort(byAddedAt)
  }

  /** Pieces matching the filter, unsorted (fast path for queries) */
  find (filter: PieceFilter): Piece[] {
    const pool = filter.instrument != null
      ? this.instruments.get(lower(filter.instrument))?.values() ?? []
      : this.pieces.values()
    const text = filter.text != null ? lower(filter.text) : undefined
    const out: Piece[] = []
    for (const piece of pool) {
      if (text == null || matchesText(piece, text)) out.push(piece)
    }
    return out
  }

  apply (entries: Array<Entry<Operation>>): PieceChange[] {
    const before = new Map<string, Piece | undefined>()
    for (const entry of entries) {
      const parsed = this.parse(entry)
      if (typeof parsed === 'string') {
        this.invalid++
        this.options.onInvalid?.(entry, parsed)
        continue
      }
      const slot = this.slots.get(parsed.key)
      if (slot != null && !isNewer(entry, slot)) continue
      if (!before.has(parsed.key)) before.set(parsed.key, slot?.piece)
      this.slots.set(parsed.key, { time: entry.clock.time, id: entry.clock.id, hash: entry.hash, piece: parsed.piece })
      this.setPiece(parsed.key, slot?.piece, parsed.piece)
    }
    const changes: PieceChange[] = []
    for (const [key, old] of before) {
      const now = this.pieces.get(key)
      if (old == null && now != null) changes.push({ hash: key, change: 'added' })
      else if (old != null && now == null) changes.push({ hash: key, change: 'removed' })
      else if (old != null && now != null && old !== now) changes.push({ hash: key, change: 'updated' })
    }
    return changes
  }

  private setPiece (key: string, old: Piece | undefined, piece: Piece | undefined): void {
    if (old != null) {
      const bucket = this.instruments.get(lower(old.instrument))
      bucket?.delete(key)
      if (bucket?.size === 0) this.instruments.delete(lower(old.instrument))
    }
    if (piece == null) {
      this.pieces.delete(key)
      return
    }
    this.pieces.set(key, piece)
    const name = lower(piece.instrument)
    let bucket = this.instruments.get(name)
    if (bucket == null) this.instruments.set(name, bucket = new Map())
    bucket.set(key, piece)
  }

  /** A valid PUT or DEL for one piece, or why the entry is skipped */
  private parse (entry: Entry<Operation>): { key: string, piece: Piece | undefined } | string {
    const payload = entry.payload as Partial<Operation> | undefined
    if (payload == null || typeof payload.key !== 'string' || entry.clock == null) return 'not a documents operation'
    // a delete's key is a piece's hash too: anything else would only grow the index (tombstones are
    // kept for last-write-wins; the replica's entry quota bounds how many)
    if (payload.op === 'DEL') return canonicalCid(payload.key) === payload.key ? { key: payload.key, piece: undefined } : 'the deleted key is not a CID in canonical form'
    if (payload.op !== 'PUT') return `unknown operation ${String(payload.op)}`
    const value = payload.value as { hash?: unknown } | null
    if (value == null || value.hash !== payload.key) return 'the document\'s hash is not its key'
    const parsed = StoredPieceSchema.safeParse(value)
    if (!parsed.success) return describeIssues(parsed.error)
    if (parsed.data.hash !== payload.key) return 'the hash is not in canonical CID form'
    return { key: payload.key, piece: stripUndefined(parsed.data) }
  }
}

/** A copy without `undefined` fields (dag-cbor cannot encode them) */
export function stripUndefined<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

/**
 * A grow-only counter per piece over an Events db: every increment is its own
 * entry, so concurrent increments from two devices of one owner are all kept
 * when their logs merge, and the count is the number of entries (a G-Counter
 * whose elements are the increments).
 */
export class CounterIndex implements EntrySink {
  private readonly counts = new Map<string, number>()
  invalid = 0

  count (hash: string): number { return this.counts.get(hash) ?? 0 }

  apply (entries: Array<Entry<Operation>>): PieceChange[] {
    const changed = new Set<string>()
    for (const entry of entries) {
      const parsed = PracticeEventSchema.safeParse((entry.payload as Partial<Operation> | undefined)?.value)
      if (!parsed.success) { this.invalid++; continue }
      this.counts.set(parsed.data.hash, this.count(parsed.data.hash) + 1)
      changed.add(parsed.data.hash)
    }
    return [...changed].map((hash) => ({ hash, change: 'practised' as const }))
  }
}
