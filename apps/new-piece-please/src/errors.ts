/**
 * Typed errors of the app. Each has a stable `name`, a message that says what to
 * do, and the CLI exit code it maps to: 1 runtime failure, 2 usage or bad input,
 * 3 no running peer.
 */

export const EXIT = { ok: 0, failure: 1, usage: 2, noPeer: 3 } as const
export type ExitCode = typeof EXIT[keyof typeof EXIT]

export class AppError extends Error {
  override readonly name: string = 'AppError'
  readonly exitCode: ExitCode = EXIT.failure
}

/** Bad arguments or input: fix the command line */
export class UsageError extends AppError {
  override readonly name: string = 'UsageError'
  override readonly exitCode: ExitCode = EXIT.usage
}

/** No peer is running in the repo (no `api.json`, its process is gone, or it does not answer) */
export class NoRunningPeerError extends AppError {
  override readonly name = 'NoRunningPeerError'
  override readonly exitCode: ExitCode = EXIT.noPeer
  constructor (readonly repo: string, detail?: string) {
    super(`no running peer in ${repo}${detail == null ? '' : ` (${detail})`}: start one with \`npp start --repo ${repo}\``)
  }
}

/** `npp start` on a repo whose peer is already running */
export class PeerAlreadyRunningError extends AppError {
  override readonly name = 'PeerAlreadyRunningError'
  constructor (readonly repo: string, readonly pid: number, readonly url: string) {
    super(`a peer is already running in ${repo} (pid ${pid}, ${url}): stop it with \`npp stop --repo ${repo}\` or use another --repo`)
  }
}

/** The control API answered with an error */
export class ApiError extends AppError {
  override readonly name = 'ApiError'
  override readonly exitCode: ExitCode
  constructor (readonly status: number, readonly errorName: string, message: string) {
    super(message)
    this.exitCode = status === 400 ? EXIT.usage : EXIT.failure
  }
}

/** `npp stop`: the peer did not exit in time */
export class PeerStopTimeoutError extends AppError {
  override readonly name = 'PeerStopTimeoutError'
  constructor (readonly pid: number, readonly waitedMs: number) {
    super(`the peer (pid ${pid}) did not exit within ${Math.round(waitedMs / 1000)} s: see its terminal (LOG="npp:*" shows what it waits for), or end it with \`kill ${pid}\``)
  }
}

/** A distributed query failed after it had started streaming (the peer reported the error as the last line) */
export class QueryFailedError extends AppError {
  override readonly name = 'QueryFailedError'
  /** Stable name of the error the peer reported, e.g. `CatalogNotStartedError` */
  readonly errorName: string
  constructor (errorName: string, message: string) {
    super(`the query failed (${errorName}): ${message}`)
    this.errorName = errorName
  }
}

/** The control API and dashboard listen on the loopback interface only */
export class LoopbackOnlyError extends UsageError {
  override readonly name = 'LoopbackOnlyError'
  constructor (readonly host: string) {
    super(`the control API listens on 127.0.0.1 only, not ${host}: use host 127.0.0.1 or localhost`)
  }
}

/** The control API could not be started */
export class ControlServerError extends AppError {
  override readonly name = 'ControlServerError'
}

/** `npp demo` could not complete; the message says which step */
export class DemoFailedError extends AppError {
  override readonly name = 'DemoFailedError'
}

/** A package of the peer failed while it ran; `cause` is the package's error */
export class ComponentFailedError extends AppError {
  override readonly name = 'ComponentFailedError'
  constructor (readonly component: string, cause: Error) {
    super(`${component} failed: ${cause.message} (run with LOG="npp:*" for details, then start the peer again)`, { cause })
  }
}

/** The exit code for any error */
export function exitCodeOf (err: unknown): ExitCode {
  return err instanceof AppError ? err.exitCode : EXIT.failure
}
