import { describe, expectTypeOf, it } from 'vitest'
import { createPeer } from '../src/peer.js'
import type { Peer, PeerInit } from '../src/peer.js'
import type { Catalog } from '@npp/catalog'
import type { Companions } from '@npp/companions'
import type { Discovery } from '@npp/discovery'
import type { Transport } from '@npp/transport'

describe('createPeer types', () => {
  it('takes a repo and optional network options, and exposes every package', () => {
    expectTypeOf(createPeer).parameter(0).toEqualTypeOf<PeerInit>()
    expectTypeOf<Peer['transport']>().toEqualTypeOf<Transport>()
    expectTypeOf<Peer['catalog']>().toEqualTypeOf<Catalog>()
    expectTypeOf<Peer['discovery']>().toEqualTypeOf<Discovery>()
    expectTypeOf<Peer['companions']>().toEqualTypeOf<Companions>()
    expectTypeOf<Peer['start']>().returns.toEqualTypeOf<Promise<void>>()
    // type checks only: never called
    const _wrong = (): void => {
      // @ts-expect-error the repo is required
      createPeer({})
      // @ts-expect-error bootstrap is 'none', 'public' or multiaddrs
      createPeer({ repo: 'x', bootstrap: 'everyone' })
    }
  })
})
