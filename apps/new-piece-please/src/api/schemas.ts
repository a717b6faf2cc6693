import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { z } from 'zod'

/**
 * Schemas of everything that enters the peer from outside (the control API's
 * bodies and query strings, the CLI's arguments). The CLI checks its arguments
 * with the same schemas before it contacts the peer, so a typo gets the same
 * one-line reason with or without a running peer.
 */

function isMultiaddr (value: string): boolean {
  try {
    multiaddr(value)
    return true
  } catch {
    return false
  }
}

function isCid (value: string): boolean {
  try {
    CID.parse(value)
    return true
  } catch {
    return false
  }
}

export const MultiaddrString = z.string().trim().min(1, 'a multiaddr is required')
  .refine(isMultiaddr, { message: 'not a valid multiaddr (expected e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...)' })

export const CidString = z.string().trim().min(1, 'a CID is required')
  .refine(isCid, { message: 'not a valid CID (expected e.g. bafkrei... or Qm...)' })

export const Instrument = z.string().trim().min(1, 'instrument must not be empty').max(100, 'instrument is longer than 100 characters')

export const ConnectBody = z.object({ multiaddr: MultiaddrString }).strict()

/** The largest score file the API accepts in one request (base64 in JSON) */
export const MAX_SCORE_BYTES = 5 * 1024 * 1024

export const AddPieceBody = z.object({
  /** CID of the score, if it is already in IPFS */
  hash: CidString.optional(),
  /** The score file's bytes, base64: the peer adds them to IPFS and uses their CID */
  score: z.base64('score must be base64').max(Math.ceil(MAX_SCORE_BYTES / 3) * 4, `score is larger than ${MAX_SCORE_BYTES} bytes`).optional(),
  instrument: Instrument,
  title: z.string().trim().max(300).optional(),
  composer: z.string().trim().max(300).optional(),
  notes: z.string().max(5000).optional()
}).strict().refine((b) => (b.hash == null) !== (b.score == null), { message: 'give exactly one of hash (a CID) or score (the file, base64)' })

export const QueryBody = z.object({
  instrument: Instrument.optional(),
  text: z.string().trim().max(200).optional(),
  limit: z.number().int().min(1).max(10_000).optional(),
  timeoutMs: z.number().int().min(1).max(120_000).optional()
}).strict()

export const ProfileField = z.string().trim().min(1, 'a field name is required').max(100).regex(/^[A-Za-z0-9_.-]+$/, 'field names are letters, digits, _ . -')

export const ProfileValue = z.object({ value: z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]) }).strict()

export const InstrumentQuery = z.object({ instrument: Instrument.optional() })

export const UserDbAddress = z.string().trim().regex(/^\/orbitdb\/[1-9A-HJ-NP-Za-km-z]+$/, 'not an OrbitDB address (expected /orbitdb/zdpu...)')

/** One line of the reason of a zod error: `field: message; field: message` */
export function reasonOf (error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')
}
