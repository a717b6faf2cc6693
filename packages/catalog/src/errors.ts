import type { z } from 'zod'

/** Issues reported by a zod schema: which field, what is wrong */
export type ValidationIssue = z.core.$ZodIssue

function describe (issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(value)'}: ${i.message}`).join('; ')
}

/** Base class of every error thrown by `@npp/catalog`; `name` is stable, `message` says what to do */
export class CatalogError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** A piece (or a patch of one) did not pass validation; `issues` lists every problem */
export class InvalidPieceError extends CatalogError {
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid piece: ${describe(issues)}. Fix these fields and try again (hash: a CID string such as bafy... or Qm...; instrument: non-empty)`)
    this.issues = issues
  }
}

/** A string that should be a piece's hash is not a CID */
export class InvalidHashError extends CatalogError {
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid piece hash: ${describe(issues)}. Pass the CID string of the score (e.g. from catalog.addScore())`)
    this.issues = issues
  }
}

/** `update()` was called for a piece that is not in our catalog */
export class PieceNotFoundError extends CatalogError {
  readonly hash: string
  constructor (hash: string) {
    super(`No piece with hash ${hash} in this catalog; add it first with catalog.add()`)
    this.hash = hash
  }
}

/** A profile field that the system manages (`pieces`, `nodeId`) cannot be set or deleted */
export class ProtectedFieldError extends CatalogError {
  readonly field: string
  constructor (field: string) {
    super(`The profile field "${field}" is managed by New Piece, Please! (companions use it to find your catalog); it cannot be set or deleted`)
    this.field = field
  }
}

/** A profile field name or value did not pass validation */
export class InvalidProfileFieldError extends CatalogError {
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid profile field: ${describe(issues)}. Use a short field name and a JSON value`)
    this.issues = issues
  }
}

/** The options of `query()` did not pass validation */
export class InvalidQueryError extends CatalogError {
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid query: ${describe(issues)}`)
    this.issues = issues
  }
}

/** An option of `createCatalog()` is out of range */
export class InvalidCatalogOptionError extends CatalogError {
  readonly issues: readonly ValidationIssue[]
  constructor (issues: readonly ValidationIssue[]) {
    super(`Invalid catalog option: ${describe(issues)}. Times are whole milliseconds greater than 0`)
    this.issues = issues
  }
}

/** A score file is larger than `addScore()`/`readScore()` accept */
export class ScoreTooLargeError extends CatalogError {
  constructor (size: number, max: number) {
    super(`The score is ${size} bytes, more than the ${max}-byte limit; compress it or split it`)
  }
}

/** The catalog is not running (not started yet, stopping, stopped or failed) */
export class CatalogNotStartedError extends CatalogError {
  constructor (what: string) {
    super(`Cannot ${what}: the catalog is not running; start the transport, then await catalog.start()`)
  }
}

/**
 * Why one source of a query could not answer. `reason` is a stable code:
 * `offline` (the companion is not connected), `no-replica` (its pieces db is
 * not open), `invalid-address`, `invalid-manifest` or `not-a-catalog` (its
 * profile does not point to a pieces db), `open-timeout` (its pieces db could
 * not be fetched in time; tried again while it is online),
 * `replication-error`, `stopped` (the catalog stopped during the query).
 */
export class SourceUnavailableError extends CatalogError {
  readonly reason: string
  constructor (reason: string, detail: string, options?: ErrorOptions) {
    super(detail, options)
    this.reason = reason
  }
}
