import PQueue from 'p-queue'
import { fromCallback } from 'xstate'
import type { CallbackActorLogic, EventObject } from 'xstate'

export interface SerialWriterOptions<C extends EventObject, I> {
  /** Apply one command (a db put or del, ...) */
  apply(command: C, input: I): Promise<void>
  /** The event sent back to the parent after each command, written (`error` undefined) or not */
  report(command: C, error: Error | undefined): EventObject
  /** Told about each failed command before it is reported */
  onError?(command: C, error: Error, input: I): void
}

/**
 * A callback actor that applies the commands it receives one after the
 * other, in the order they arrive (a p-queue of concurrency 1, as OrbitDB's
 * own sync serialises its work), and reports each one to its parent. The
 * parent counts what it sent and what came back, so a stop can wait for the
 * last write. Nothing is reported after the actor stopped.
 *
 * @example
 * ```ts
 * const store = serialWriter<StoreCommand, { db: KeyValueDatabase }>({
 *   apply: async (command, { db }) => { await db.put(command.key, command.value) },
 *   report: (command, error) => ({ type: 'store.written', key: command.key, error })
 * })
 * ```
 */
export function serialWriter<C extends EventObject, I> (options: SerialWriterOptions<C, I>): CallbackActorLogic<C, I> {
  return fromCallback<C, I>(({ input, receive, sendBack }) => {
    const queue = new PQueue({ concurrency: 1 })
    let stopped = false
    receive((command) => {
      void queue.add(async () => {
        let error: Error | undefined
        try {
          await options.apply(command, input)
        } catch (err) {
          error = err instanceof Error ? err : new Error(String(err))
          options.onError?.(command, error, input)
        }
        if (!stopped) sendBack(options.report(command, error))
      })
    })
    return () => { stopped = true }
  })
}
