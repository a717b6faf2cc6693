/**
 * What kind of failure an error is, independent of who threw it: the CLI picks
 * its exit code and the control API its HTTP status from this, never from a
 * class name.
 */
export type ErrorKind =
  /** the caller passed something invalid: fix the input (HTTP 400) */
  | 'invalid-input'
  /** what was asked for does not exist (HTTP 404) */
  | 'not-found'
  /** the request conflicts with the current state (HTTP 409) */
  | 'conflict'
  /** the component is not started (yet, or any more): start it, or wait (HTTP 503) */
  | 'not-started'
  /** a remote peer could not be reached (HTTP 502) */
  | 'unreachable'
  /** a remote peer did not answer in time (HTTP 504) */
  | 'timeout'
  /** anything else (HTTP 500) */
  | 'failure'

/** The HTTP status of each {@link ErrorKind} */
export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = {
  'invalid-input': 400,
  'not-found': 404,
  conflict: 409,
  'not-started': 503,
  unreachable: 502,
  timeout: 504,
  failure: 500
}

/**
 * Base class of every typed error of the packages: a stable `name` (the class
 * name), a message that says what to do, and a {@link ErrorKind}.
 *
 * @example
 * ```ts
 * export class CatalogNotStartedError extends NppError {
 *   override readonly kind = 'not-started'
 * }
 * ```
 */
export class NppError extends Error {
  /** What kind of failure this is; subclasses override it */
  readonly kind: ErrorKind = 'failure'

  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }

  /** The HTTP status that answers this error */
  get httpStatus (): number { return HTTP_STATUS[this.kind] }
}

/** The {@link ErrorKind} of anything thrown (`failure` unless it is an {@link NppError}) */
export function errorKind (err: unknown): ErrorKind {
  return err instanceof NppError ? err.kind : 'failure'
}

/** Anything thrown, as an `Error` (non-errors are wrapped with their string form) */
export function toError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
