import { describe, expect, it } from 'vitest'
import { CompanionsError, CompanionsNotStartedError, InvalidCompanionsOptionError } from '../src/index.js'

describe('the public API of @npp/companions', () => {
  it('exports exactly these names (a change here is a change of the API: make it deliberately)', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'CompanionsError',
      'CompanionsNotStartedError',
      'InvalidCompanionsOptionError',
      'companionsMachine',
      'createCompanions'
    ])
  })

  it('its errors are NppErrors with a stable name and the kind that says what went wrong', async () => {
    const { NppError } = await import('@npp/kit')
    const notStarted = new CompanionsNotStartedError('list companions')
    expect(notStarted).toBeInstanceOf(CompanionsError)
    expect(notStarted).toBeInstanceOf(NppError)
    expect(notStarted.name).toBe('CompanionsNotStartedError')
    expect([notStarted.kind, notStarted.httpStatus]).toEqual(['not-started', 503])
    const invalid = new InvalidCompanionsOptionError('backoff.jitter', 2, 'a number from 0 to 1')
    expect([invalid.name, invalid.kind, invalid.httpStatus]).toEqual(['InvalidCompanionsOptionError', 'invalid-input', 400])
    expect(new CompanionsError('x').kind).toBe('failure')
  })
})
