/** Base class of every error thrown by `@npp/discovery`; `name` is stable, `message` says what to do */
export class DiscoveryError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** Something that needs a running discovery was used before `start()` finished (or after `stop()`) */
export class DiscoveryNotStartedError extends DiscoveryError {
  constructor (what: string) {
    super(`Cannot ${what}: discovery is not running; await discovery.start() (after transport.start()) first`)
  }
}

/** An option of `createDiscovery()` is out of range */
export class InvalidDiscoveryOptionError extends DiscoveryError {
  constructor (option: string, value: unknown, expected: string) {
    super(`createDiscovery(): ${option} is ${JSON.stringify(value)}; expected ${expected}`)
  }
}
