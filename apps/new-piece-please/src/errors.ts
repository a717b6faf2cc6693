import { errorKind, HTTP_STATUS, NppError } from '@npp/kit/errors'
import type { ErrorKind } from '@npp/kit/errors'

/**
 * Typed errors of the app. Each extends `NppError` (from `@npp/kit`, like every
 * package's errors): a stable `name`, a message that says what to do, and a
 * `kind` from which the control API picks its HTTP status and the CLI its exit
 * code ({@link exitCodeOf}).
 */

/** The CLI's exit codes: 0 ok, 1 runtime failure, 2 usage or bad input, 3 no running peer */
export const EXIT = { ok: 0, failure: 1, usage: 2, noPeer: 3 } as const
export type ExitCode = typeof EXIT[keyof typeof EXIT]

/** The exit code of each kind of error: bad input is 2, "not running" is 3, the rest 1 */
const EXIT_BY_KIND: Readonly<Record<ErrorKind, ExitCode>> = {
  'invalid-input': EXIT.usage,
  'not-started': EXIT.noPeer,
  'not-found': EXIT.failure,
  conflict: EXIT.failure,
  unreachable: EXIT.failure,
  timeout: EXIT.failure,
  failure: EXIT.failure
}

/** Base class of the app's errors */
export class AppError extends NppError {
  /** The CLI exit code of this error (from its `kind`) */
  get exitCode (): ExitCode { return EXIT_BY_KIND[this.kind] }
}

/** Bad arguments or input: fix the command line */
export class UsageError extends AppError {
  override readonly kind: ErrorKind = 'invalid-input'
}

/** No peer is running in the repo (no `api.json`, its process is gone, or it does not answer) */
export class NoRunningPeerError extends AppError {
  override readonly kind = 'not-started'
  constructor (readonly repo: string, detail?: string) {
    super(`no running peer in ${repo}${detail == null ? '' : ` (${detail})`}: start one with \`npp start --repo ${repo}\``)
  }
}

/** `npp start` on a repo whose peer is already running */
export class PeerAlreadyRunningError extends AppError {
  override readonly kind = 'conflict'
  constructor (readonly repo: string, readonly pid: number, readonly url: string) {
    super(`a peer is already running in ${repo} (pid ${pid}, ${url}): stop it with \`npp stop --repo ${repo}\` or use another --repo`)
  }
}

/** The kind of an HTTP status (the inverse of `HTTP_STATUS`; any other status is a `failure`) */
function kindOfStatus (status: number): ErrorKind {
  const found = (Object.entries(HTTP_STATUS) as Array<[ErrorKind, number]>).find(([, s]) => s === status)
  return found?.[0] ?? 'failure'
}

/** The control API answered with an error; its `kind` follows the HTTP status */
export class ApiError extends AppError {
  override readonly kind: ErrorKind
  constructor (readonly status: number, readonly errorName: string, message: string) {
    super(message)
    this.kind = kindOfStatus(status)
  }
}

/** `npp stop`: the peer did not exit in time */
export class PeerStopTimeoutError extends AppError {
  override readonly kind = 'timeout'
  constructor (readonly pid: number, readonly waitedMs: number) {
    super(`the peer (pid ${pid}) did not exit within ${Math.round(waitedMs / 1000)} s: see its terminal (LOG="npp:*" shows what it waits for), or end it with \`kill ${pid}\``)
  }
}

/** A distributed query failed after it had started streaming (the peer reported the error as the last line) */
export class QueryFailedError extends AppError {
  /** Stable name of the error the peer reported, e.g. `CatalogNotStartedError` */
  readonly errorName: string
  constructor (errorName: string, message: string) {
    super(`the query failed (${errorName}): ${message}`)
    this.errorName = errorName
  }
}

/** The control API and dashboard listen on the loopback interface only */
export class LoopbackOnlyError extends UsageError {
  constructor (readonly host: string) {
    super(`the control API listens on 127.0.0.1 only, not ${host}: use host 127.0.0.1 or localhost`)
  }
}

/** The control API could not be started */
export class ControlServerError extends AppError {}

/** `npp demo` could not complete; the message says which step */
export class DemoFailedError extends AppError {}

/** A package of the peer failed while it ran; `cause` is the package's error */
export class ComponentFailedError extends AppError {
  constructor (readonly component: string, cause: Error) {
    super(`${component} failed: ${cause.message} (run with LOG="npp:*" for details, then start the peer again)`, { cause })
  }
}

/** The peer failed to start or to stop */
export class PeerFailedError extends AppError {}

/**
 * A control API request the route refuses; `code` is the error name in the JSON
 * answer (`BadRequest`, `PieceNotFound`, `NoPiece`, `NoSuchField`) and `kind`
 * gives the HTTP status.
 */
export class HttpError extends AppError {
  override readonly kind: ErrorKind
  constructor (kind: ErrorKind, readonly code: string, message: string) {
    super(message)
    this.kind = kind
  }
}

/** The exit code for any error: from its `kind` (a failure unless it is an `NppError`) */
export function exitCodeOf (err: unknown): ExitCode {
  return EXIT_BY_KIND[errorKind(err)]
}

/** One line of the reason of a zod error: `field: message; field: message` */
export function reasonOf (error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>, message: string }> }): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ')
}
