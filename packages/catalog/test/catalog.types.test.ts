import { describe, expectTypeOf, it } from 'vitest'
import type { Catalog, CatalogHit, CatalogInit, Piece, QueryEvent, QueryRun, QuerySummary, SourceOutcome } from '../src/index.js'
import type { WriteResults } from '../src/writes.js'
import type { BusEvents } from '@npp/bus'
import type { Logger } from '@npp/transport'

describe('public types of @npp/catalog', () => {
  it('types pieces, queries and their events', () => {
    // type-checked, never run (no catalog is started here)
    const check = (catalog: Catalog): void => {
      expectTypeOf(catalog.add({ hash: 'bafy...', instrument: 'violin' })).resolves.toEqualTypeOf<Piece>()
      // @ts-expect-error instrument is required
      void catalog.add({ hash: 'bafy...' })
      // @ts-expect-error the hash of a piece cannot be patched
      void catalog.update('bafy...', { hash: 'other' })
      expectTypeOf(catalog.random({ instrument: 'cello' })).resolves.toEqualTypeOf<Piece | undefined>()
      expectTypeOf(catalog.query({ instrument: 'cello' })).toEqualTypeOf<QueryRun>()
      // @ts-expect-error unknown query option
      void catalog.query({ composer: 'Bach' })
      expectTypeOf<Extract<QueryEvent, { type: 'done' }>['summary']>().toEqualTypeOf<QuerySummary>()
      expectTypeOf<Extract<QueryEvent, { type: 'batch' }>['hits']>().toEqualTypeOf<CatalogHit[]>()
      expectTypeOf<Extract<QueryEvent, { type: 'done' }>['sources']>().toEqualTypeOf<SourceOutcome[]>()
      expectTypeOf<QueryEvent['type']>().toEqualTypeOf<'batch' | 'done'>()
      // a query's results go to its caller, not to the bus
      expectTypeOf<'catalog:result' | 'catalog:done'>().not.toExtend<keyof BusEvents>()
      expectTypeOf(catalog.userDbAddress).toBeString()
      expectTypeOf<CatalogInit['profile']>().toEqualTypeOf<Record<string, unknown> | undefined>()
      expectTypeOf(catalog.practise('bafy...')).resolves.toBeNumber()
      expectTypeOf<CatalogInit['logger']>().toEqualTypeOf<Logger | undefined>()
      expectTypeOf<WriteResults['piece.del']>().toEqualTypeOf<boolean>()
    }
    expectTypeOf(check).toBeFunction()
  })
})
