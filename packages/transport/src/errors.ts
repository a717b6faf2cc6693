import { NppError } from '@npp/kit'

/**
 * Base class of every error thrown by `@npp/transport`: `name` is stable (the class
 * name), `message` says what to do, `kind` gives its meaning (HTTP status, exit code)
 */
export class TransportError extends NppError {}

/** The string given to `connect()` is not a multiaddr */
export class InvalidMultiaddrError extends TransportError {
  override readonly kind = 'invalid-input'
  constructor (input: string, options?: ErrorOptions) {
    super(`"${input}" is not a valid multiaddr; expected something like /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...`, options)
  }
}

/** `connect()` was given one of our own addresses or our own peer id */
export class SelfDialError extends TransportError {
  override readonly kind = 'invalid-input'
  constructor (input: string) {
    super(`${input} is this peer itself; pass the multiaddr of another peer`)
  }
}

/** Nothing answered at the address given to `connect()` */
export class PeerUnreachableError extends TransportError {
  override readonly kind = 'unreachable'
  constructor (input: string, options?: ErrorOptions) {
    super(`Could not reach ${input}; check that the peer is running and that the address (including /p2p/<peer id>) is current`, options)
  }
}

/** `connect()` gave up after its timeout */
export class DialTimeoutError extends TransportError {
  override readonly kind = 'timeout'
  constructor (input: string, timeoutMs: number, options?: ErrorOptions) {
    super(`Dialling ${input} did not finish within ${timeoutMs} ms; check the address or raise the timeout`, options)
  }
}

/** A peer id string could not be parsed */
export class InvalidPeerIdError extends TransportError {
  override readonly kind = 'invalid-input'
  constructor (input: string, options?: ErrorOptions) {
    super(`"${input}" is not a valid peer id; expected something like 12D3KooW...`, options)
  }
}

/** `send()` could not reach the receiver: it never subscribed to its topic in time */
export class PeerNotSubscribedError extends TransportError {
  override readonly kind = 'timeout'
  constructor (peerId: string, timeoutMs: number) {
    super(`Peer ${peerId} did not subscribe to its topic within ${timeoutMs} ms; is it connected and running New Piece, Please!?`)
  }
}

/** A message to send is larger than the protocol allows */
export class MessageTooLargeError extends TransportError {
  override readonly kind = 'invalid-input'
  constructor (size: number, max: number) {
    super(`Message of ${size} bytes exceeds the ${max}-byte limit; send a db address or CID instead of the content`)
  }
}

/** Another process already runs a peer in this repo folder */
export class RepoLockedError extends TransportError {
  override readonly kind = 'conflict'
  constructor (repo: string, pid: number) {
    super(`The repo ${repo} is in use by process ${pid}; stop that peer first or choose another --repo`)
  }
}

/** The transport is not online (not started yet, stopping, stopped or failed) */
export class NotStartedError extends TransportError {
  override readonly kind = 'not-started'
  constructor (what: string) {
    super(`Cannot ${what}: the transport is not online; await transport.start() first`)
  }
}

/** An option given to `createTransport()` is out of range */
export class InvalidTransportOptionError extends TransportError {
  override readonly kind = 'invalid-input'
  constructor (option: string, value: unknown, expected: string) {
    super(`Transport option ${option} is ${JSON.stringify(value)}; expected ${expected}`)
  }
}

/** The receiver is subscribed, but gossipsub had no open stream to it until the deadline */
export class MessageNotDeliveredError extends TransportError {
  override readonly kind = 'unreachable'
  constructor (peerId: string, timeoutMs: number) {
    super(`Peer ${peerId} is subscribed but the message could not be delivered within ${timeoutMs} ms; check the connection (transport.isConnected) and try again`)
  }
}
