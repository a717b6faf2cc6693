import { describe, expect, it, vi } from 'vitest'
import { reportError } from '../src/cli/output.js'
import {
  ComponentFailedError, ControlServerError, DemoFailedError, EXIT, LoopbackOnlyError, PeerStopTimeoutError, QueryFailedError, exitCodeOf
} from '../src/errors.js'

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
