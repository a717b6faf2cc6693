import { describe, expectTypeOf, it } from 'vitest'
import { createDiscovery } from '../src/index.js'
import type { Announcement, Discovery, DiscoveryInit, RejectionReason } from '../src/index.js'
import type { Startable } from '@libp2p/interface'
import type { Logger } from '@npp/transport'

describe('public API types of @npp/discovery', () => {
  it('createDiscovery takes a bus and a transport and returns a Startable Discovery', () => {
    expectTypeOf(createDiscovery).parameter(0).toEqualTypeOf<DiscoveryInit>()
    expectTypeOf(createDiscovery).returns.toEqualTypeOf<Discovery>()
    expectTypeOf<Discovery>().toMatchTypeOf<Startable>()
    expectTypeOf<Discovery['userDbAddress']>().toBeString()
    // @ts-expect-error bus, transport and catalog are required
    const _missing: DiscoveryInit = { maxConcurrent: 2 }
    expectTypeOf<DiscoveryInit['catalog']>().toEqualTypeOf<{ readonly userDbAddress: string }>()
    // @ts-expect-error a rate limit needs both the count and the window
    const _rate: DiscoveryInit['rateLimit'] = { announcements: 5 }
    expectTypeOf<DiscoveryInit['logger']>().toEqualTypeOf<Logger | undefined>()
    expectTypeOf<DiscoveryInit['announceRetry']>().toEqualTypeOf<{ attempts?: number, initialMs?: number, maxMs?: number } | undefined>()
  })

  it('removed companions are listed and readmitted by user db address or peer id', () => {
    expectTypeOf<Discovery['readmit']>().parameters.toEqualTypeOf<[userDbOrPeerId: string]>()
    expectTypeOf<Discovery['readmit']>().returns.toEqualTypeOf<Promise<number>>()
    expectTypeOf<Discovery['removed']>().returns.toEqualTypeOf<Array<{ userDb: string, nodeId: string }>>()
    expectTypeOf<'removed'>().toMatchTypeOf<RejectionReason>()
  })

  it('the announcement and the rejection reasons are precise', () => {
    expectTypeOf<Announcement>().toEqualTypeOf<{ type: 'npp/announce', v: 1, userDb: string, invite?: { id: string, mac: string } | undefined }>()
    expectTypeOf<'rate-limited'>().toMatchTypeOf<RejectionReason>()
    // @ts-expect-error not a reason discovery gives (not-json is the transport's)
    const _reason: RejectionReason = 'not-json'
  })
})
