import { NppError } from '@npp/kit'

/**
 * Base class of every error thrown by `@npp/companions`: `name` is stable (the
 * class name), `message` says what to do, `kind` gives its meaning (HTTP status,
 * exit code)
 */
export class CompanionsError extends NppError {}

/** The companions API was used before `start()` finished (or after `stop()`) */
export class CompanionsNotStartedError extends CompanionsError {
  override readonly kind = 'not-started'
  constructor (what: string) {
    super(`Cannot ${what}: companions is not running; await companions.start() (after transport.start()) first`)
  }
}

/** An option of `createCompanions()` is out of range */
export class InvalidCompanionsOptionError extends CompanionsError {
  override readonly kind = 'invalid-input'
  constructor (option: string, value: unknown, expected: string) {
    super(`createCompanions(): ${option} is ${JSON.stringify(value)}; expected ${expected}`)
  }
}
