import { describe, expectTypeOf, it } from 'vitest'
import { createCompanions } from '../src/index.js'
import type { CompanionRecord, Companions, CompanionsInit, CompanionStatus } from '../src/index.js'
import type { Startable } from '@libp2p/interface'
import type { CompanionProfile } from '@npp/bus'
import type { Logger } from '@npp/transport'

describe('public API types of @npp/companions', () => {
  it('createCompanions returns a Startable Companions with a typed API', () => {
    expectTypeOf(createCompanions).parameter(0).toEqualTypeOf<CompanionsInit>()
    expectTypeOf<Companions>().toMatchTypeOf<Startable>()
    expectTypeOf<Companions['list']>().returns.toEqualTypeOf<Promise<CompanionStatus[]>>()
    expectTypeOf<Companions['get']>().returns.toEqualTypeOf<Promise<CompanionStatus | undefined>>()
    expectTypeOf<Companions['remove']>().returns.toEqualTypeOf<Promise<boolean>>()
    // @ts-expect-error backoff values are numbers
    const _backoff: CompanionsInit['backoff'] = { initialMs: '1s' }
    expectTypeOf<CompanionsInit['logger']>().toEqualTypeOf<Logger | undefined>()
  })

  it('a status is a record plus one of three states', () => {
    expectTypeOf<CompanionStatus>().toMatchTypeOf<CompanionRecord>()
    expectTypeOf<CompanionStatus['status']>().toEqualTypeOf<'online' | 'offline' | 'reconnecting'>()
    expectTypeOf<CompanionRecord['profile']>().toEqualTypeOf<CompanionProfile>()
    // @ts-expect-error no such status
    const _status: CompanionStatus['status'] = 'away'
  })
})
