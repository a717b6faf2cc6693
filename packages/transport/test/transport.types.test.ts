import { describe, expectTypeOf, it } from 'vitest'
import { createTransport, KeyValue } from '../src/index.js'
import type { Documents } from '../src/index.js'
import type { DocumentsDatabase, KeyValueDatabase, Transport } from '../src/index.js'
import type { Bus } from '@npp/bus'

// Only type-checked (never called): wrong uses must not compile.
function wrongUses (bus: Bus, transport: Transport): void {
  // @ts-expect-error the bus is required
  createTransport({ repo: './x' })
  // @ts-expect-error bootstrap is 'none', 'public' or a list of multiaddrs
  createTransport({ bus, repo: './x', bootstrap: 'everyone' })
  // @ts-expect-error messages are JSON objects, not strings
  void transport.send('12D3KooW...', 'hello')
  // @ts-expect-error a KeyValue<number> db takes numbers
  void transport.orbitdb.open('x', { Database: KeyValue<number>() }).then((db) => db.put('k', 'not a number'))
}

describe('public API types', () => {
  it('types the factory, its options and the OrbitDB facade', () => {
    expectTypeOf(createTransport).returns.toEqualTypeOf<Transport>()
    expectTypeOf<Transport['connect']>().returns.resolves.toEqualTypeOf<{ peerId: string }>()
    expectTypeOf<ReturnType<typeof KeyValue<number>>['__database']>().toEqualTypeOf<KeyValueDatabase<number> | undefined>()
    expectTypeOf<ReturnType<typeof Documents<{ hash: string }>>['__database']>().toEqualTypeOf<DocumentsDatabase<{ hash: string }> | undefined>()
    expectTypeOf(wrongUses).toBeFunction()
  })
})
