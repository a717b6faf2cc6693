/** Base class of every error thrown by `@npp/companions`; `name` is stable, `message` says what to do */
export class CompanionsError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The companions API was used before `start()` finished (or after `stop()`) */
export class CompanionsNotStartedError extends CompanionsError {
  constructor (what: string) {
    super(`Cannot ${what}: companions is not running; await companions.start() (after transport.start()) first`)
  }
}

/** An option of `createCompanions()` is out of range */
export class InvalidCompanionsOptionError extends CompanionsError {
  constructor (option: string, value: unknown, expected: string) {
    super(`createCompanions(): ${option} is ${JSON.stringify(value)}; expected ${expected}`)
  }
}
