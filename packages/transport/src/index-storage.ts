/**
 * OrbitDB's index of a log's entries (`<db>/log/_index`), with its keys in memory.
 *
 * OrbitDB asks this index whether it has an entry for every `next` and `ref` of every
 * entry it joins (~17 lookups per entry). Nearly all of them miss while a replica
 * syncs, and each miss is a LevelDB read that throws `LEVEL_NOT_FOUND`: in
 * `pnpm bench:replication` they were about half of the querying process's CPU. The
 * keys are read once when the db opens (an entry hash is ~60 bytes: 100,000 entries
 * ~6 MB) and a key we do not hold answers at once; values, puts and deletes go to
 * OrbitDB's own LRU + LevelDB stores unchanged, so the folder stays OrbitDB's format.
 */
import * as core from '@orbitdb/core'

/** OrbitDB's storage interface (storage/*.js) */
export interface CoreStorage {
  put(hash: string, value: unknown): Promise<void>
  get(hash: string): Promise<unknown>
  del(hash: string): Promise<void>
  iterator(options?: { amount?: number, reverse?: boolean }): AsyncIterable<[string, unknown]>
  merge(other: unknown): Promise<void>
  clear(): Promise<void>
  close(): Promise<void>
}

const storages = core as unknown as {
  ComposedStorage: (a: CoreStorage, b: CoreStorage) => Promise<CoreStorage>
  LRUStorage: (options: { size: number }) => Promise<CoreStorage>
  LevelStorage: (options: { path: string }) => Promise<CoreStorage>
}

/** OrbitDB's default cache size in front of each LevelDB store (database.js) */
const DEFAULT_CACHE_SIZE = 1000

/** The index OrbitDB would create at `path`, answering from memory for keys it does not hold */
export async function knownKeysIndexStorage (path: string): Promise<CoreStorage> {
  const level = await storages.LevelStorage({ path })
  const keys = new Set<string>()
  for await (const [key] of level.iterator()) keys.add(key)
  const inner = await storages.ComposedStorage(await storages.LRUStorage({ size: DEFAULT_CACHE_SIZE }), level)
  return {
    ...inner,
    async get (hash) { return keys.has(hash) ? await inner.get(hash) : undefined },
    async put (hash, value) {
      await inner.put(hash, value)
      keys.add(hash)
    },
    async del (hash) {
      keys.delete(hash)
      await inner.del(hash)
    },
    async clear () {
      keys.clear()
      await inner.clear()
    }
  }
}
