import type { QueryEvent, QueryResult, QueryRun } from './types.js'

/**
 * The handle of one running query. Events are kept, so every iterator (and
 * one started late) sees every batch and then `done`.
 */
export class Run implements QueryRun {
  readonly done: Promise<QueryResult>
  private readonly events: QueryEvent[] = []
  private readonly wakers = new Set<() => void>()
  private resolve!: (result: QueryResult) => void
  private finished = false

  constructor (readonly id: string) {
    this.done = new Promise((resolve) => { this.resolve = resolve })
  }

  /** @internal */
  push (event: QueryEvent): void {
    if (this.finished) return
    this.events.push(event)
    if (event.type === 'done') {
      this.finished = true
      this.resolve({ summary: event.summary, hits: event.hits, sources: event.sources })
    }
    for (const wake of [...this.wakers]) wake()
  }

  [Symbol.asyncIterator] (): AsyncIterator<QueryEvent> {
    let cursor = 0
    let closed = false
    const next = async (): Promise<IteratorResult<QueryEvent>> => {
      while (cursor >= this.events.length) {
        if (this.finished || closed) return { done: true, value: undefined }
        await new Promise<void>((resolve) => {
          const wake = (): void => { this.wakers.delete(wake); resolve() }
          this.wakers.add(wake)
        })
      }
      return { done: false, value: this.events[cursor++]! }
    }
    return {
      next,
      return: async () => {
        closed = true
        return { done: true, value: undefined }
      }
    }
  }
}
