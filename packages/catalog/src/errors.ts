import { NppError, describeIssues } from '@npp/kit'
import type { ErrorKind } from '@npp/kit'
import type { z } from 'zod'

/** Issues reported by a zod schema: which field, what is wrong */
export type ValidationIssue = z.core.$ZodIssue

/**
 * Base class of every error thrown by `@npp/catalog`: `name` is stable (the
 * class name), `message` says what to do, `kind` gives its meaning (HTTP
 * status, exit code)
 */
export class CatalogError extends NppError {}

/** A piece (or a patch of one) did not pass validation; `issues` lists every problem */
export class InvalidPieceError extends CatalogError {
  override readonly kind = 'invalid-input'
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid piece: ${describeIssues(issues)}. Fix these fields and try again (hash: a CID string such as bafy... or Qm...; instrument: non-empty)`)
    this.issues = issues
  }
}

/** A string that should be a piece's hash is not a CID */
export class InvalidHashError extends CatalogError {
  override readonly kind = 'invalid-input'
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid piece hash: ${describeIssues(issues)}. Pass the CID string of the score (e.g. from catalog.addScore())`)
    this.issues = issues
  }
}

/** `update()` was called for a piece that is not in our catalog */
export class PieceNotFoundError extends CatalogError {
  override readonly kind = 'not-found'
  readonly hash: string
  constructor (hash: string) {
    super(`No piece with hash ${hash} in this catalog; add it first with catalog.add()`)
    this.hash = hash
  }
}

/** A profile field that the system manages (`pieces`, `nodeId`) cannot be set or deleted */
export class ProtectedFieldError extends CatalogError {
  override readonly kind = 'invalid-input'
  readonly field: string
  constructor (field: string) {
    super(`The profile field "${field}" is managed by New Piece, Please! (companions use it to find your catalog); it cannot be set or deleted`)
    this.field = field
  }
}

/** A profile field name or value did not pass validation */
export class InvalidProfileFieldError extends CatalogError {
  override readonly kind = 'invalid-input'
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid profile field: ${describeIssues(issues)}. Use a short field name and a JSON value`)
    this.issues = issues
  }
}

/** The options of `query()` did not pass validation */
export class InvalidQueryError extends CatalogError {
  override readonly kind = 'invalid-input'
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid query: ${describeIssues(issues)}`)
    this.issues = issues
  }
}

/** An option of `createCatalog()` is out of range */
export class InvalidCatalogOptionError extends CatalogError {
  override readonly kind = 'invalid-input'
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[], hint = 'Times are whole milliseconds greater than 0') {
    super(`Invalid catalog option: ${describeIssues(issues)}. ${hint}`)
    this.issues = issues
  }
}

/** A score file is larger than `addScore()`/`readScore()` accept */
export class ScoreTooLargeError extends CatalogError {
  override readonly kind = 'invalid-input'
  constructor (size: number, max: number) {
    super(`The score is ${size} bytes, more than the ${max}-byte limit; compress it or split it`)
  }
}

/** The catalog is not running (not started yet, stopping, stopped or failed) */
export class CatalogNotStartedError extends CatalogError {
  override readonly kind = 'not-started'
  constructor (what: string) {
    super(`Cannot ${what}: the catalog is not running; start the transport, then await catalog.start()`)
  }
}

/** The {@link ErrorKind} of each {@link SourceUnavailableError} reason (`unreachable` for any other) */
const SOURCE_KINDS: ReadonlyMap<string, ErrorKind> = new Map([['open-timeout', 'timeout'], ['stopped', 'not-started']])

/**
 * Why one source of a query could not answer. `reason` is a stable code:
 * `offline` (the companion is not connected), `no-replica` (its pieces db is
 * not open), `invalid-address`, `invalid-manifest` or `not-a-catalog` (its
 * profile does not point to a pieces db written only by its owner),
 * `no-manifest` (the db's manifests could not be fetched; tried again while
 * it is online), `open-timeout` (its pieces db could not be fetched in time;
 * tried again while it is online), `replication-error`, `stopped` (the
 * catalog stopped during the query). Its `kind` is `timeout` for
 * `open-timeout`, `not-started` for `stopped` and `unreachable` otherwise.
 */
export class SourceUnavailableError extends CatalogError {
  override readonly kind: ErrorKind
  readonly reason: string
  constructor (reason: string, detail: string, options?: ErrorOptions) {
    super(detail, options)
    this.reason = reason
    this.kind = SOURCE_KINDS.get(reason) ?? 'unreachable'
  }
}

/** The reason code of a failed source or replica: a {@link SourceUnavailableError}'s reason, `aborted`, or the error's name */
export function failureReason (err: unknown): string {
  if (err instanceof SourceUnavailableError) return err.reason
  const name = (err as { name?: string } | undefined)?.name
  if (name === 'AbortError') return 'aborted'
  return name ?? 'error'
}
