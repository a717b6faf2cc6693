import { describe, expect, it } from 'vitest'

// The public surface of @npp/transport, on purpose: a new export is a decision, a
// removed one breaks its users. Types are not listed (they vanish at run time).
describe('@npp/transport exports', () => {
  it('exports exactly these names', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'DialTimeoutError',
      'Documents',
      'Events',
      'IPFSAccessController',
      'InvalidMultiaddrError',
      'InvalidPeerIdError',
      'InvalidTransportOptionError',
      'KeyValue',
      'MessageNotDeliveredError',
      'MessageTooLargeError',
      'NotStartedError',
      'OWN_DATABASES',
      'OrbitDBAddressSchema',
      'PeerNotSubscribedError',
      'PeerUnreachableError',
      'RepoLockedError',
      'SelfDialError',
      'TransportError',
      'createTransport',
      'enableLogging',
      'inspectDatabase',
      'isAlive',
      'isValidAddress',
      'nppLogger',
      'onNotice',
      'openOwnDatabase',
      'startSync',
      'transportMachine'
    ])
  })
})
