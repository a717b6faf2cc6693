/**
 * Blocks on their way in a log-blocks stream (./log-blocks.ts), so that OrbitDB's walk
 * of a log waits for the stream instead of asking bitswap for each block again.
 *
 * A stream registers every block it was told of (the heads it asked for, then what each
 * block it stored links to) and reports each block as it is stored; a read of a block
 * that a running stream is bringing resolves when the block is stored, or when the
 * stream ends without it (then the read goes to the network as before). A join can
 * then start as soon as the stream has brought the head, and verify entries while the
 * rest streams, instead of after the last block. The first read of a block a stream
 * has just stored gets its bytes from here, not from LevelDB (two reads less an entry).
 */
import { base58btc } from 'multiformats/bases/base58'
import type { CID } from 'multiformats/cid'

/** One stream's side of {@link BlockArrivals} (CIDs as OrbitDB writes them: base58btc) */
export interface Incoming {
  /** The stream will bring `cid` */
  expect(cid: string): void
  /** The stream has stored `cid` (or found it stored); `block`: its bytes, when it stored them */
  arrived(cid: string, block?: Uint8Array): void
  /** The stream is over: what it did not bring is not coming */
  end(): void
}

/** Blocks just stored by a stream, kept until read once (OrbitDB's walk reads each once, soon after) */
const MAX_FRESH = 2048

export class BlockArrivals {
  /** Per running stream: the blocks it will bring that have not arrived */
  readonly #streams = new Set<Set<string>>()
  /** Reads waiting for a block, by CID */
  readonly #waiting = new Map<string, Array<() => void>>()
  /** Blocks a stream stored that nobody has read yet: a read takes them from here, not from LevelDB */
  readonly #fresh = new Map<string, Uint8Array>()

  /** A new stream's registration */
  begin (): Incoming {
    const coming = new Set<string>()
    this.#streams.add(coming)
    return {
      expect: (cid) => { coming.add(cid) },
      arrived: (cid, block) => {
        coming.delete(cid)
        if (block != null) {
          if (this.#fresh.size >= MAX_FRESH) this.#fresh.delete(this.#fresh.keys().next().value!)
          // a copy of its own size: the stream's frames are views of larger buffers
          this.#fresh.set(cid, new Uint8Array(block))
        }
        this.#release(cid)
      },
      end: () => {
        this.#streams.delete(coming)
        for (const cid of coming) if (!this.#coming(cid)) this.#release(cid)
        coming.clear()
      }
    }
  }

  /**
   * Resolves at once unless a running stream is bringing `cid`; then when it is stored,
   * the stream ends or `signal` aborts. With the block's bytes when a stream stored it
   * and nobody has read it yet (they are handed out once).
   */
  async until (cid: CID, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.#streams.size === 0 && this.#fresh.size === 0) return
    const key = cid.toString(base58btc)
    if (this.#coming(key)) await this.#arrival(key, signal)
    const block = this.#fresh.get(key)
    if (block != null) this.#fresh.delete(key)
    return block
  }

  async #arrival (key: string, signal?: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const list = this.#waiting.get(key) ?? []
      list.push(done)
      this.#waiting.set(key, list)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  #coming (cid: string): boolean {
    for (const coming of this.#streams) if (coming.has(cid)) return true
    return false
  }

  #release (cid: string): void {
    const list = this.#waiting.get(cid)
    if (list == null) return
    this.#waiting.delete(cid)
    for (const done of list) done()
  }
}
