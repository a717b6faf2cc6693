/**
 * Who may become a companion: the pure decisions of consent and the invite
 * format (discovery's root machine applies them).
 *
 * A validated announcement is admitted at once when its sender is a
 * companion already, when we dialled it ourselves (`discovery.connect()`),
 * when it presented a valid invite of ours, or when the policy is `all`;
 * under `consent` any other sender waits in a bounded pending list for the
 * user to accept or decline; under `none` it is refused.
 *
 * An invite is `npp-invite:` + base64url(JSON) holding the inviter's peer id
 * and addresses, an invite id, a 32-byte secret and its expiry. The secret
 * never travels on pubsub: the invited peer sends `mac = HMAC-SHA256(secret,
 * "npp-invite/1 <id> <inviter> <sender>")`, bound to its own peer id (which
 * gossipsub's StrictSign proves), so a peer that relays or overhears the
 * announcement cannot present it as its own.
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { fromString, toString } from 'uint8arrays'
import { z } from 'zod'
import { InvalidInviteError } from './errors.js'
import type { CompanionProfile } from '@npp/bus'

/** Who is admitted as a companion: see the module's documentation */
export type AcceptPolicy = 'consent' | 'all' | 'none'

/** What our announcement carries to a peer that invited us */
export interface InviteProof {
  /** The invite's id */
  id: string
  /** base64url HMAC-SHA256 of the invite's secret over its id, the inviter and us */
  mac: string
}

/** An invite of ours, as we keep it */
export interface IssuedInvite {
  id: string
  secret: string
  expiresAt: number
  /** Peers that may still use it */
  usesLeft: number
}

/** A peer whose validated `user` db waits for the user's decision */
export interface PendingCompanion {
  peerId: string
  userDb: string
  profile: CompanionProfile
  multiaddrs: string[]
  /** When it was added (ms since the epoch) */
  at: number
  /** Why an invite it presented did not admit it, if it presented one */
  inviteProblem?: string
}

/** An invite, decoded */
export interface Invite {
  /** The inviter */
  peerId: string
  /** Where to dial it */
  addresses: string[]
  id: string
  secret: string
  expiresAt: number
}

export const INVITE_PREFIX = 'npp-invite:'

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/)
const InviteIdSchema = base64url.min(16).max(64)

/** The proof in an announcement (a MAC is 32 bytes: 43 base64url characters) */
export const InviteProofSchema = z.object({ id: InviteIdSchema, mac: base64url.length(43) }).strict()

const InviteBodySchema = z.object({
  v: z.literal(1),
  p: z.string().min(1).max(200),
  a: z.array(z.string().min(1).max(500)).min(1).max(16),
  i: InviteIdSchema,
  s: base64url.length(43),
  e: z.number().int().positive()
}).strict()

/** An issued invite as it is kept (and read back from an {@link InviteStore}) */
export const IssuedInviteSchema = z.object({
  id: InviteIdSchema,
  secret: base64url.length(43),
  expiresAt: z.number().int().positive(),
  usesLeft: z.number().int().min(0).max(1_000)
}).strict()

/**
 * Where our invites outlive a restart (the app keeps them in a 0600 file of the repo).
 * Never an OrbitDB db: anyone who knows an own db's address can read it.
 */
export interface InviteStore {
  /** The invites kept last time (validated by discovery; expired ones are dropped) */
  load(): Promise<unknown[]>
  /** Replace what is kept by these */
  save(invites: IssuedInvite[]): Promise<void>
}

/** The invites of a store that are well-formed and not expired, by id */
export function liveInvites (stored: unknown[], now = Date.now()): Record<string, IssuedInvite> {
  const out: Record<string, IssuedInvite> = {}
  for (const item of stored) {
    const parsed = IssuedInviteSchema.safeParse(item)
    if (parsed.success && parsed.data.expiresAt > now && parsed.data.usesLeft > 0) out[parsed.data.id] = parsed.data
  }
  return out
}

const toBase64url = (bytes: Uint8Array): string => toString(bytes, 'base64url')
const randomBase64url = (bytes: number): string => toBase64url(crypto.getRandomValues(new Uint8Array(bytes)))
/**
 * An invite's id: 144 random bits as 36 hex digits. Users type it (`npp invite revoke
 * <id>`): a base64url id began with `-` one time in 64, and a CLI took it for an option.
 */
const randomInviteId = (): string => toString(crypto.getRandomValues(new Uint8Array(18)), 'base16')

/** A new invite's secret parts (its addresses and peer id are the caller's) */
export function issueInvite (ttlMs: number, uses: number, now = Date.now()): IssuedInvite {
  return { id: randomInviteId(), secret: randomBase64url(32), expiresAt: now + ttlMs, usesLeft: uses }
}

/** The one-line form of an invite */
export function encodeInvite (invite: Invite): string {
  const body = { v: 1, p: invite.peerId, a: invite.addresses, i: invite.id, s: invite.secret, e: invite.expiresAt }
  return INVITE_PREFIX + toString(fromString(JSON.stringify(body)), 'base64url')
}

/** Decode an invite (throws {@link InvalidInviteError} saying what is wrong; expiry is the inviter's to judge) */
export function decodeInvite (text: string): Invite {
  const trimmed = text.trim()
  if (!trimmed.startsWith(INVITE_PREFIX)) throw new InvalidInviteError(`it does not start with '${INVITE_PREFIX}'`)
  let json: unknown
  try {
    json = JSON.parse(toString(fromString(trimmed.slice(INVITE_PREFIX.length), 'base64url')))
  } catch {
    throw new InvalidInviteError('it is not base64url-encoded JSON (was it cut short when copied?)')
  }
  const parsed = InviteBodySchema.safeParse(json)
  if (!parsed.success) throw new InvalidInviteError(parsed.error.issues.map((i) => `${i.path.join('.') || 'invite'}: ${i.message}`).join('; '))
  const { p, a, i, s, e } = parsed.data
  return { peerId: p, addresses: a, id: i, secret: s, expiresAt: e }
}

const macOf = (secret: string, id: string, inviter: string, sender: string): string =>
  toBase64url(hmac(sha256, fromString(secret, 'base64url'), fromString(`npp-invite/1 ${id} ${inviter} ${sender}`)))

/** What `sender` presents to `invite`'s inviter */
export const proveInvite = (invite: Invite, sender: string): InviteProof =>
  ({ id: invite.id, mac: macOf(invite.secret, invite.id, invite.peerId, sender) })

/** Check a proof against our invites: the invite it uses, or why it admits nobody */
export function checkInvite (invites: Record<string, IssuedInvite>, proof: InviteProof, inviter: string, sender: string, now = Date.now()): { ok: true } | { ok: false, problem: string } {
  const invite = invites[proof.id]
  if (invite == null) return { ok: false, problem: 'the invite is unknown (revoked, used up, or from before our last restart)' }
  if (invite.expiresAt <= now) return { ok: false, problem: 'the invite has expired' }
  if (invite.usesLeft < 1) return { ok: false, problem: 'the invite was used already' }
  const expected = fromString(macOf(invite.secret, proof.id, inviter, sender))
  const given = fromString(proof.mac)
  // constant time: the comparison does not tell how much of a guess was right
  let diff = expected.length ^ given.length
  for (let i = 0; i < expected.length; i++) diff |= expected[i]! ^ (given[i] ?? 0)
  return diff === 0 ? { ok: true } : { ok: false, problem: 'the invite proof does not match (not made for this sender)' }
}

/** What consent reads of the root's context */
export interface ConsentState {
  policy: AcceptPolicy
  /** Peers the user consented to (dialled, invited, accepted), by peer id */
  consented: Record<string, true>
  /** Is this `user` db or peer id a companion already (companions owns that fact) */
  isCompanion: (userDbOrPeerId: string) => boolean
}

export type ConsentVerdict = 'admit' | 'pending' | 'refuse'

/** A validated announcement: admit it, ask the user, or refuse it */
export function consentTo (state: ConsentState, from: string, userDb: string): ConsentVerdict {
  if (state.isCompanion(userDb) || state.isCompanion(from)) return 'admit'
  if (state.policy === 'all') return 'admit'
  if (state.policy === 'none') return 'refuse'
  return state.consented[from] != null ? 'admit' : 'pending'
}

/** Add (or refresh) a pending peer; the oldest go beyond `max`. Returns the list and who was dropped */
export function addPending (pending: PendingCompanion[], entry: PendingCompanion, max: number): { pending: PendingCompanion[], dropped: PendingCompanion[] } {
  const next = [...pending.filter((p) => p.peerId !== entry.peerId), entry]
  const dropped = next.length > max ? next.splice(0, next.length - max) : []
  return { pending: next, dropped }
}

/** Why a peer is refused under `accept: 'none'` */
export const NOT_ACCEPTING_DETAIL = "this peer accepts no new companions (accept: 'none')"

/** What becomes of a peer whose `user` db was validated */
export type ValidatedVerdict =
  | { kind: 'admit' }
  | { kind: 'refuse', reason: 'not-accepting' | 'too-many-companions', detail: string }
  | { kind: 'pending', entry: PendingCompanion, pending: PendingCompanion[], dropped: PendingCompanion[] }

/** Admit a validated peer, refuse it (policy, or no room), or add it to the pending list */
export function judgeValidated (
  state: ConsentState & { count: () => number, maxCompanions: number, maxPending: number, pending: PendingCompanion[], inviteProblems: Record<string, string> },
  validated: Omit<PendingCompanion, 'at' | 'inviteProblem'>,
  now = Date.now()
): ValidatedVerdict {
  const verdict = consentTo(state, validated.peerId, validated.userDb)
  if (verdict === 'refuse') return { kind: 'refuse', reason: 'not-accepting', detail: NOT_ACCEPTING_DETAIL }
  if (verdict === 'admit') {
    if (state.isCompanion(validated.peerId) || state.count() < state.maxCompanions) return { kind: 'admit' }
    return { kind: 'refuse', reason: 'too-many-companions', detail: `this peer keeps at most ${state.maxCompanions} companions; remove one (or raise maxCompanions) to admit another` }
  }
  const problem = state.inviteProblems[validated.peerId]
  const entry: PendingCompanion = { ...validated, at: now, ...(problem == null ? {} : { inviteProblem: problem }) }
  return { kind: 'pending', entry, ...addPending(state.pending, entry, state.maxPending) }
}

/** The pending peers with this peer id or `user` db address, and the others */
export function splitPending (pending: PendingCompanion[], target: string): { matched: PendingCompanion[], rest: PendingCompanion[] } {
  const match = (p: PendingCompanion): boolean => p.peerId === target || p.userDb === target
  return { matched: pending.filter(match), rest: pending.filter((p) => !match(p)) }
}
