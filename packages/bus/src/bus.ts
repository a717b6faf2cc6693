import { NppError } from '@npp/kit'
import mittModule from 'mitt'
import type { BusEvents } from './events.js'
import type { Emitter, Handler } from 'mitt'

// mitt's types are CommonJS-style while its `import` export is ESM: under NodeNext
// TypeScript sees the namespace, at run time the default export is the function.
const mitt = ((mittModule as unknown as { default?: unknown }).default ?? mittModule) as unknown as typeof mittModule.default

export interface WaitForOptions {
  /** Reject with a {@link BusTimeoutError} after this many milliseconds (default: wait forever) */
  timeoutMs?: number
  /** Reject with the signal's reason when it aborts */
  signal?: AbortSignal
}

/** The typed event bus shared by every package of a peer */
export interface Bus {
  on<K extends keyof BusEvents>(type: K, handler: Handler<BusEvents[K]>): void
  off<K extends keyof BusEvents>(type: K, handler: Handler<BusEvents[K]>): void
  emit<K extends keyof BusEvents>(type: K, event: BusEvents[K]): void
  /** Subscribe and get back the matching unsubscribe function */
  subscribe<K extends keyof BusEvents>(type: K, handler: Handler<BusEvents[K]>): () => void
  /** Listen to every event, e.g. for logs or the dashboard */
  onAny(handler: <K extends keyof BusEvents>(type: K, event: BusEvents[K]) => void): () => void
  /** Resolve with the first event of `type` that matches `predicate` */
  waitFor<K extends keyof BusEvents>(type: K, predicate?: (event: BusEvents[K]) => boolean, options?: WaitForOptions): Promise<BusEvents[K]>
}

/** `waitFor` gave up after `timeoutMs` */
export class BusTimeoutError extends NppError {
  override readonly kind = 'timeout'
  constructor (type: string, timeoutMs: number) {
    super(`No matching "${type}" event within ${timeoutMs} ms; check that the emitting package is started, or raise timeoutMs`)
  }
}

/**
 * Create a typed bus. Handlers run synchronously in the order they subscribed;
 * a handler that throws does not stop the others (the error is reported on
 * `onError`, by default `console.error`).
 */
export function createBus (options: { onError?: (err: unknown, type: string) => void } = {}): Bus {
  const emitter: Emitter<BusEvents> = mitt<BusEvents>()
  const onError = options.onError ?? ((err, type) => { console.error(`npp:bus handler of "${type}" threw`, err) })

  const wrapped = new WeakMap<object, Handler<never>>()
  const guard = <T>(type: string, handler: Handler<T>): Handler<T> => {
    let safe = wrapped.get(handler) as Handler<T> | undefined
    if (safe == null) {
      safe = (event: T) => {
        try { handler(event) } catch (err) { onError(err, type) }
      }
      wrapped.set(handler, safe as Handler<never>)
    }
    return safe
  }

  const bus: Bus = {
    on (type, handler) { emitter.on(type, guard(type, handler)) },
    off (type, handler) { emitter.off(type, guard(type, handler)) },
    emit (type, event) { emitter.emit(type, event) },
    subscribe (type, handler) {
      bus.on(type, handler)
      return () => { bus.off(type, handler) }
    },
    onAny (handler) {
      const all = (type: keyof BusEvents, event: unknown): void => {
        try { handler(type, event as never) } catch (err) { onError(err, type) }
      }
      emitter.on('*', all)
      return () => { emitter.off('*', all) }
    },
    async waitFor (type, predicate, options = {}) {
      const { timeoutMs, signal } = options
      signal?.throwIfAborted()
      return await new Promise((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined
        const cleanup = (): void => {
          bus.off(type, handler)
          if (timer != null) clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
        }
        const handler = (event: BusEvents[typeof type]): void => {
          if (predicate != null && !predicate(event)) return
          cleanup()
          resolve(event)
        }
        const onAbort = (): void => { cleanup(); reject(signal?.reason) }
        bus.on(type, handler)
        signal?.addEventListener('abort', onAbort, { once: true })
        if (timeoutMs != null) {
          timer = setTimeout(() => { cleanup(); reject(new BusTimeoutError(type, timeoutMs)) }, timeoutMs)
        }
      })
    }
  }
  return bus
}
