import { NppError } from '@npp/kit'
import { describe, expect, it } from 'vitest'
import {
  CatalogError, CatalogNotStartedError, InvalidCatalogOptionError, InvalidHashError, InvalidPieceError, InvalidProfileFieldError, InvalidQueryError,
  PieceNotFoundError, ProtectedFieldError, ScoreTooLargeError, SourceUnavailableError
} from '../src/index.js'
import type { ValidationIssue } from '../src/index.js'

describe('the public API of @npp/catalog', () => {
  it('@npp/catalog/schema: the schemas alone, for a process that validates input without running a peer', async () => {
    expect(Object.keys(await import('../src/schema.js')).sort()).toEqual([
      'CidString', 'Instrument', 'LIMITS', 'PieceInputSchema', 'PiecePatchSchema', 'PracticeEventSchema', 'ProfileFieldSchema',
      'ProfileValueSchema', 'QueryOptionsSchema', 'StoredPieceSchema', 'canonicalCid', 'pieceFields'
    ])
  })

  it('exports exactly these names (a change here is a change of the API: make it deliberately)', async () => {
    // types are not listed: they vanish at run time
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'CatalogError',
      'CatalogNotStartedError',
      'CidString',
      'Instrument',
      'InvalidCatalogOptionError',
      'InvalidHashError',
      'InvalidPieceError',
      'InvalidProfileFieldError',
      'InvalidQueryError',
      'LIMITS',
      'PROTECTED_PROFILE_FIELDS',
      'PieceInputSchema',
      'PieceNotFoundError',
      'PiecePatchSchema',
      'ProfileFieldSchema',
      'ProfileValueSchema',
      'ProtectedFieldError',
      'QueryOptionsSchema',
      'REQUIRED_PROFILE_FIELDS',
      'ScoreTooLargeError',
      'SourceUnavailableError',
      'StoredPieceSchema',
      'catalogMachine',
      'createCatalog',
      'pieceFields',
      'queryMachine',
      'replicaMachine',
      'sourceMachine'
    ])
  })

  it('its errors are NppErrors with a stable name and the kind that says what went wrong', () => {
    const issues: ValidationIssue[] = [{ code: 'custom', path: ['hash'], message: 'not a CID', input: 'x' }]
    const cases: Array<[NppError, string, string, number]> = [
      [new InvalidPieceError(issues), 'InvalidPieceError', 'invalid-input', 400],
      [new InvalidHashError(issues), 'InvalidHashError', 'invalid-input', 400],
      [new InvalidProfileFieldError(issues), 'InvalidProfileFieldError', 'invalid-input', 400],
      [new InvalidQueryError(issues), 'InvalidQueryError', 'invalid-input', 400],
      [new InvalidCatalogOptionError(issues), 'InvalidCatalogOptionError', 'invalid-input', 400],
      [new ProtectedFieldError('pieces'), 'ProtectedFieldError', 'invalid-input', 400],
      [new ScoreTooLargeError(2, 1), 'ScoreTooLargeError', 'invalid-input', 400],
      [new PieceNotFoundError('bafy'), 'PieceNotFoundError', 'not-found', 404],
      [new CatalogNotStartedError('query'), 'CatalogNotStartedError', 'not-started', 503],
      [new SourceUnavailableError('offline', 'bob is not connected'), 'SourceUnavailableError', 'unreachable', 502],
      [new SourceUnavailableError('open-timeout', 'not in time'), 'SourceUnavailableError', 'timeout', 504],
      [new CatalogError('x'), 'CatalogError', 'failure', 500]
    ]
    for (const [err, name, kind, status] of cases) {
      expect(err).toBeInstanceOf(CatalogError)
      expect(err).toBeInstanceOf(NppError)
      expect([err.name, err.kind, err.httpStatus]).toEqual([name, kind, status])
    }
    // messages are unchanged, and say what to do
    expect(new InvalidPieceError(issues).message).toBe('Invalid piece: hash: not a CID. Fix these fields and try again (hash: a CID string such as bafy... or Qm...; instrument: non-empty)')
    expect(new CatalogNotStartedError('query').message).toBe('Cannot query: the catalog is not running; start the transport, then await catalog.start()')
  })
})
