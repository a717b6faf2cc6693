import { OrbitDBAddressSchema } from '@npp/transport/client'
import { multiaddr } from '@multiformats/multiaddr'
import { CidString as CatalogCid, Instrument as CatalogInstrument, LIMITS, pieceFields, ProfileFieldSchema, ProfileValueSchema, QueryOptionsSchema } from '@npp/catalog/schema'
import { z } from 'zod'

/**
 * Schemas of everything that enters the peer from outside (the control API's
 * bodies and query strings, the CLI's arguments). The CLI checks its arguments
 * with the same schemas before it contacts the peer, so a typo gets the same
 * one-line reason with or without a running peer.
 *
 * Pieces, profile fields and queries are checked with the catalog's own
 * schemas and limits (`@npp/catalog` exports them): what passes here is what
 * the catalog accepts.
 */

function isMultiaddr (value: string): boolean {
  try {
    multiaddr(value)
    return true
  } catch {
    return false
  }
}

export const MultiaddrString = z.string().trim().min(1, 'a multiaddr is required')
  .refine(isMultiaddr, { message: 'not a valid multiaddr (expected e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...)' })

/** A CID (surrounding spaces ignored), in the catalog's canonical form */
export const CidString = z.string().trim().min(1, 'a CID is required').pipe(CatalogCid)

export const Instrument = CatalogInstrument

/** An invite of another peer's (`npp invite` prints one); discovery checks the rest */
export const InviteString = z.string().trim().max(16_384, 'an invite is at most 16 KiB')
  .startsWith('npp-invite:', "an invite starts with 'npp-invite:' (paste it whole)")

/** What `npp connect` dials: a multiaddr, or an invite */
export const ConnectBody = z.object({ multiaddr: MultiaddrString.optional(), invite: InviteString.optional() }).strict()
  .refine((b) => (b.multiaddr == null) !== (b.invite == null), { message: 'give exactly one of multiaddr or invite' })

/** A pending peer, by its peer id or its `user` db address */
export const PendingTarget = z.object({ target: z.string().trim().min(1, 'a peer id or user db address is required').max(500) }).strict()

/** `POST /api/invites`: how long the invite lasts (ms) and how many peers may use it */
export const InviteBody = z.object({
  ttlMs: z.number().int().min(1_000).max(30 * 24 * 60 * 60 * 1000).optional(),
  uses: z.number().int().min(1).max(1_000).optional()
}).strict()

/**
 * The largest score file the API accepts in one request (base64 in JSON): a
 * bound on request bodies, below the catalog's own limit for scores.
 */
export const MAX_SCORE_BYTES = Math.min(5 * 1024 * 1024, LIMITS.scoreBytes)

export const AddPieceBody = z.object({
  /** CID of the score, if it is already in IPFS */
  hash: CidString.optional(),
  /** The score file's bytes, base64: the peer adds them to IPFS and uses their CID */
  score: z.base64('score must be base64').max(Math.ceil(MAX_SCORE_BYTES / 3) * 4, `score is larger than ${MAX_SCORE_BYTES} bytes`).optional(),
  instrument: pieceFields.instrument,
  title: pieceFields.title,
  composer: pieceFields.composer,
  notes: pieceFields.notes
}).strict().refine((b) => (b.hash == null) !== (b.score == null), { message: 'give exactly one of hash (a CID) or score (the file, base64)' })

export const QueryBody = QueryOptionsSchema

/** A profile field name: the catalog's rule, and only characters that are safe in a URL path */
export const ProfileField = z.string().trim().pipe(ProfileFieldSchema).pipe(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'field names are letters, digits, _ . -'))

export const ProfileValue = z.object({ value: ProfileValueSchema }).strict()

export const InstrumentQuery = z.object({ instrument: Instrument.optional() })

export const UserDbAddress = z.string().trim().pipe(OrbitDBAddressSchema)

