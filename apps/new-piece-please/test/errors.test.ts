import { CatalogNotStartedError } from '@npp/catalog'
import { DiscoveryNotStartedError } from '@npp/discovery'
import { NppError } from '@npp/kit'
import { InvalidMultiaddrError, PeerUnreachableError } from '@npp/transport'
import { describe, expect, it, vi } from 'vitest'
import { reportError } from '../src/cli/output.js'
import {
  ApiError, ComponentFailedError, ControlServerError, DemoFailedError, EXIT, LoopbackOnlyError, NoRunningPeerError, PeerAlreadyRunningError,
  PeerStopTimeoutError, QueryFailedError, UsageError, exitCodeOf
} from '../src/errors.js'
import type { ErrorKind } from '@npp/kit'

describe('the app\'s typed errors', () => {
  it('have stable names, exit codes and messages that say what to do', () => {
    const cases: Array<[Error, string, number, RegExp]> = [
      [new PeerStopTimeoutError(4242, 30_000), 'PeerStopTimeoutError', EXIT.failure, /pid 4242\) did not exit within 30 s: .*`kill 4242`/],
      [new QueryFailedError('CatalogNotStartedError', 'Cannot query: the catalog is not running'), 'QueryFailedError', EXIT.failure, /\(CatalogNotStartedError\): Cannot query/],
      [new LoopbackOnlyError('0.0.0.0'), 'LoopbackOnlyError', EXIT.usage, /use host 127\.0\.0\.1 or localhost/],
      [new ControlServerError('no address; try again'), 'ControlServerError', EXIT.failure, /try again/],
      [new DemoFailedError('gave up; run it again'), 'DemoFailedError', EXIT.failure, /run it again/],
      [new ComponentFailedError('catalog', new Error('disk full')), 'ComponentFailedError', EXIT.failure, /^catalog failed: disk full \(run with LOG/]
    ]
    for (const [err, name, code, message] of cases) {
      expect(err.name).toBe(name)
      expect(exitCodeOf(err), name).toBe(code)
      expect(err.message, name).toMatch(message)
    }
    // the server's error name is kept
    expect(new QueryFailedError('InvalidQueryError', 'x').errorName).toBe('InvalidQueryError')
  })

  it('are NppErrors whose kind gives the exit code, as the packages\' errors do', () => {
    const cases: Array<[Error, ErrorKind, number]> = [
      [new UsageError('bad'), 'invalid-input', EXIT.usage],
      [new LoopbackOnlyError('0.0.0.0'), 'invalid-input', EXIT.usage],
      [new NoRunningPeerError('/tmp/x'), 'not-started', EXIT.noPeer],
      [new PeerAlreadyRunningError('/tmp/x', 1, 'http://127.0.0.1:1'), 'conflict', EXIT.failure],
      [new PeerStopTimeoutError(1, 1000), 'timeout', EXIT.failure],
      [new ApiError(400, 'InvalidPieceError', 'x'), 'invalid-input', EXIT.usage],
      [new ApiError(404, 'PieceNotFound', 'x'), 'not-found', EXIT.failure],
      [new ApiError(503, 'CatalogNotStartedError', 'x'), 'not-started', EXIT.noPeer],
      [new ApiError(401, 'Unauthorized', 'x'), 'failure', EXIT.failure],
      [new InvalidMultiaddrError('nope'), 'invalid-input', EXIT.usage],
      [new PeerUnreachableError('/ip4/127.0.0.1/tcp/1'), 'unreachable', EXIT.failure],
      [new DiscoveryNotStartedError('announce'), 'not-started', EXIT.noPeer],
      [new CatalogNotStartedError('query'), 'not-started', EXIT.noPeer]
    ]
    for (const [err, kind, code] of cases) {
      expect(err, err.name).toBeInstanceOf(NppError)
      expect((err as NppError).kind, err.name).toBe(kind)
      expect(exitCodeOf(err), err.name).toBe(code)
    }
    expect(new ApiError(504, 'DialTimeoutError', 'x').kind).toBe('timeout')
    // anything that is not an NppError is a plain failure
    expect(exitCodeOf(new Error('plain'))).toBe(EXIT.failure)
    expect(exitCodeOf('a string')).toBe(EXIT.failure)
  })

  it('print as one line on stderr, without a stack', () => {
    const lines: string[] = []
    const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => { lines.push(args.map(String).join(' ')) })
    const saved = process.env.LOG
    delete process.env.LOG
    try {
      expect(reportError(new QueryFailedError('CatalogNotStartedError', 'Cannot query:\nthe catalog is not running'))).toBe(EXIT.failure)
    } finally {
      spy.mockRestore()
      if (saved != null) process.env.LOG = saved
    }
    expect(lines).toEqual(['npp: the query failed (CatalogNotStartedError): Cannot query: the catalog is not running'])
  })
})
