import { NppError } from '@npp/kit'

/**
 * Base class of every error thrown by `@npp/discovery`: `name` is stable (the class
 * name), `message` says what to do, `kind` gives its meaning (HTTP status, exit code)
 */
export class DiscoveryError extends NppError {}

/** Something that needs a running discovery was used before `start()` finished (or after `stop()`) */
export class DiscoveryNotStartedError extends DiscoveryError {
  override readonly kind = 'not-started'
  constructor (what: string) {
    super(`Cannot ${what}: discovery is not running; await discovery.start() (after transport.start()) first`)
  }
}

/** An option of `createDiscovery()` is out of range */
export class InvalidDiscoveryOptionError extends DiscoveryError {
  override readonly kind = 'invalid-input'
  constructor (option: string, value: unknown, expected: string) {
    super(`createDiscovery(): ${option} is ${JSON.stringify(value)}; expected ${expected}`)
  }
}

/** An invite could not be read */
export class InvalidInviteError extends DiscoveryError {
  override readonly kind = 'invalid-input'
  constructor (problem: string) {
    super(`This is not a valid invite: ${problem}. Ask the inviter for a new one (\`npp invite\`) and paste it whole`)
  }
}

/** No pending peer (or no invite) matches what was asked for */
export class UnknownPendingError extends DiscoveryError {
  override readonly kind = 'not-found'
  constructor (target: string) {
    super(`No pending peer is ${target}; list them with discovery.pending() (\`npp companions pending\`)`)
  }
}
