/**
 * Schemas for everything that enters the catalog: pieces from the API, pieces
 * read from companions' dbs (untrusted), practice events, profile fields and
 * query options. (Remote db manifests are checked by the transport's
 * `inspectDatabase`.) zod gives us typed output plus a list of issues per field,
 * which the typed errors carry. Also the `@npp/catalog/schema` entry: these schemas
 * without the rest of the catalog (nor libp2p, Helia, OrbitDB), for API clients.
 */
import { CID } from 'multiformats/cid'
import { z } from 'zod'

/** Bounds of every string field of a piece */
export const LIMITS = {
  hash: 128,
  instrument: 64,
  title: 256,
  composer: 256,
  notes: 4096,
  profileField: 64,
  /** Serialized JSON of one profile value */
  profileValueBytes: 16 * 1024,
  queryText: 256,
  queryLimit: 10_000,
  queryTimeoutMs: 600_000,
  /** Score files given to addScore() / read by readScore() */
  scoreBytes: 64 * 1024 * 1024
} as const

/** Canonical form of a CID string, or undefined if it is not one */
export function canonicalCid (value: string): string | undefined {
  try {
    return CID.parse(value).toString()
  } catch {
    return undefined
  }
}

/** A CID string, normalised to its canonical form (CIDv0 base58btc, CIDv1 base32) */
export const CidString = z.string().max(LIMITS.hash).transform((value, ctx) => {
  const cid = canonicalCid(value)
  if (cid == null) {
    ctx.addIssue({ code: 'custom', message: 'not a valid CID (expected e.g. bafkrei... or Qm...)' })
    return z.NEVER
  }
  return cid
})

/** An instrument name: trimmed, not empty, at most {@link LIMITS}.instrument characters */
export const Instrument = z.string().trim().min(1, 'must not be empty').max(LIMITS.instrument)
const AddedAt = z.number().int().nonnegative().max(8.64e15)

/** The fields of a piece as `add()` takes them (each schema is exported for apps that check input early) */
export const pieceFields = {
  hash: CidString,
  instrument: Instrument,
  title: z.string().max(LIMITS.title).optional(),
  composer: z.string().max(LIMITS.composer).optional(),
  notes: z.string().max(LIMITS.notes).optional()
}

/** What `catalog.add()` accepts: unknown fields are refused */
export const PieceInputSchema = z.strictObject({ ...pieceFields, addedAt: AddedAt.optional() })

/** What `catalog.update()` accepts: any field but `hash` */
export const PiecePatchSchema = z.strictObject({
  instrument: Instrument.optional(),
  title: pieceFields.title,
  composer: pieceFields.composer,
  notes: pieceFields.notes,
  addedAt: AddedAt.optional()
})

/**
 * A piece as stored in a pieces db. Used for our own entries and for the
 * untrusted entries of companions' dbs: unknown fields are dropped (newer
 * versions may add some), anything else invalid makes the entry skipped.
 */
export const StoredPieceSchema = z.object({ ...pieceFields, addedAt: AddedAt })

/** One increment of a practice counter (an entry of the practice Events db) */
export const PracticeEventSchema = z.object({
  hash: CidString,
  /** Random per increment: two devices of one owner write byte-identical entries otherwise */
  nonce: z.string().min(8).max(64),
  at: AddedAt
})

/** A profile field name */
export const ProfileFieldSchema = z.string().min(1).max(LIMITS.profileField)

/** A profile value: any JSON value of at most {@link LIMITS}.profileValueBytes bytes */
export const ProfileValueSchema = z.json().refine(
  (value) => new TextEncoder().encode(JSON.stringify(value)).byteLength <= LIMITS.profileValueBytes,
  `must serialize to at most ${LIMITS.profileValueBytes} bytes of JSON`
)

/** What `query()` accepts */
export const QueryOptionsSchema = z.strictObject({
  instrument: Instrument.optional(),
  text: z.string().trim().min(1).max(LIMITS.queryText).optional(),
  limit: z.number().int().min(1).max(LIMITS.queryLimit).optional(),
  timeoutMs: z.number().int().min(1).max(LIMITS.queryTimeoutMs).optional()
})

export type StoredPiece = z.output<typeof StoredPieceSchema>
export type PracticeEvent = z.output<typeof PracticeEventSchema>
