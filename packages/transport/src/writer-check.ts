/**
 * Who wrote an entry, decided without waiting on the network where we can:
 * the first step of our access controller (see `IPFSAccessController` in
 * ./orbitdb.ts). OrbitDB checks every entry that arrives on a db's topic
 * through one queue per db, and its check first loads the entry's identity
 * (`identities.getIdentity`): for an identity block nobody has, that waits
 * for the block timeout (30 s) while every later entry, the legitimate ones
 * too, waits behind it. Here:
 * - an identity hash seen before is answered from memory (allowed or not);
 * - in an owner-only db whose owner's identity is known (ours in our own
 *   dbs, or verified once in a replica), any other identity is refused at once;
 * - an identity block we do not have is fetched once, with a short timeout; a
 *   miss is remembered for a while, so a stream of entries naming it costs
 *   one fetch, not one per entry.
 */
import { CID } from 'multiformats/cid'

/** How long we wait for an identity block we do not have */
export const IDENTITY_FETCH_TIMEOUT_MS = 5_000
/** How long a missing identity stays refused without a new fetch */
export const IDENTITY_MISS_TTL_MS = 60_000
/** Identities remembered per db (the oldest are forgotten first) */
export const MAX_REMEMBERED_IDENTITIES = 1_024

export interface WriterCheckDeps {
  /** The identity ids (public keys) allowed to write, from the db's access controller */
  write: readonly string[]
  /** Our own identity (its hash, id and signing key), known to be what it says */
  own?: { hash: string, id: string, publicKey?: string }
  /** Whether the block is stored locally */
  has(cid: CID): Promise<boolean>
  /** Fetch the block (from the network if need be), aborted by `signal` */
  fetch(cid: CID, signal: AbortSignal): Promise<unknown>
  /** OrbitDB's identity lookup (local once the block is here) */
  getIdentity(hash: string): Promise<{ id: string, publicKey: string } | undefined>
  now?: () => number
}

/** What the check says of an entry's identity */
export type WriterVerdict =
  | { ok: true, publicKey: string }
  | { ok: false, reason: 'unknown-identity' | 'not-a-writer' | 'bad-identity' }

/** Why {@link WriterCheck.precheck} refused an entry: its identity's verdict, or a signing key that is not the identity's */
export type PrecheckRefusal = Exclude<WriterVerdict, { ok: true }>['reason'] | 'key-mismatch'

interface Remembered { verdict: WriterVerdict, at: number }

export class WriterCheck {
  private readonly known = new Map<string, Remembered>()
  private readonly inflight = new Map<string, Promise<WriterVerdict>>()
  /** Owner-only (one writer) and its identity hash once verified */
  private ownerHash: string | undefined
  /** Identity fetches started (for diagnostics and tests) */
  fetches = 0

  constructor (private readonly deps: WriterCheckDeps) {
    const own = deps.own
    if (own != null && deps.write.includes(own.id) && deps.write.length === 1) this.ownerHash = own.hash
    if (own?.publicKey != null && deps.write.includes(own.id)) this.known.set(own.hash, { verdict: { ok: true, publicKey: own.publicKey }, at: 0 })
  }

  /**
   * What can be said of an entry's identity and signing key from memory alone,
   * without waiting: a refusal, or `undefined` when only {@link check} can tell.
   * Used by the db topics' gossipsub validators (see ./topic-validator.ts), so
   * that such entries are dropped before OrbitDB queues them and never forwarded.
   */
  precheck (identityHash: unknown, key: unknown): PrecheckRefusal | undefined {
    if (typeof identityHash !== 'string' || identityHash.length > 200) return 'bad-identity'
    const remembered = this.known.get(identityHash)
    if (remembered != null) {
      const { verdict } = remembered
      if (verdict.ok) return verdict.publicKey === key ? undefined : 'key-mismatch'
      if (verdict.reason !== 'unknown-identity' || (this.deps.now?.() ?? Date.now()) - remembered.at < IDENTITY_MISS_TTL_MS) return verdict.reason
      return undefined
    }
    if (this.ownerHash != null && identityHash !== this.ownerHash) return 'not-a-writer'
    return undefined
  }

  /** Decide on the identity an entry names */
  async check (identityHash: unknown): Promise<WriterVerdict> {
    if (typeof identityHash !== 'string' || identityHash.length > 200) return { ok: false, reason: 'bad-identity' }
    const now = this.deps.now?.() ?? Date.now()
    const remembered = this.known.get(identityHash)
    if (remembered != null && (remembered.verdict.ok || remembered.verdict.reason !== 'unknown-identity' || now - remembered.at < IDENTITY_MISS_TTL_MS)) return remembered.verdict
    if (this.ownerHash != null && identityHash !== this.ownerHash) return this.remember(identityHash, { ok: false, reason: 'not-a-writer' }, now)
    const running = this.inflight.get(identityHash)
    if (running != null) return await running
    const lookup = this.lookup(identityHash).finally(() => { this.inflight.delete(identityHash) })
    this.inflight.set(identityHash, lookup)
    return this.remember(identityHash, await lookup, this.deps.now?.() ?? Date.now())
  }

  private async lookup (hash: string): Promise<WriterVerdict> {
    let cid: CID
    try {
      cid = CID.parse(hash)
    } catch {
      return { ok: false, reason: 'bad-identity' }
    }
    if (!await this.deps.has(cid)) {
      this.fetches++
      try {
        await this.deps.fetch(cid, AbortSignal.timeout(IDENTITY_FETCH_TIMEOUT_MS))
      } catch {
        return { ok: false, reason: 'unknown-identity' }
      }
    }
    const identity = await this.deps.getIdentity(hash).catch(() => undefined)
    if (identity == null) return { ok: false, reason: 'bad-identity' }
    if (!this.deps.write.includes(identity.id) && !this.deps.write.includes('*')) return { ok: false, reason: 'not-a-writer' }
    // an owner-only db: from now on only this identity can be its writer
    if (this.deps.write.length === 1 && this.deps.write[0] !== '*') this.ownerHash = hash
    return { ok: true, publicKey: identity.publicKey }
  }

  private remember (hash: string, verdict: WriterVerdict, at: number): WriterVerdict {
    this.known.delete(hash)
    this.known.set(hash, { verdict, at })
    if (this.known.size > MAX_REMEMBERED_IDENTITIES) this.known.delete(this.known.keys().next().value!)
    return verdict
  }
}
