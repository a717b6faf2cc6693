import { pushable } from 'it-pushable'
import { toPromise } from 'xstate'
import { CatalogNotStartedError } from './errors.js'
import type { QueryBatch, QueryDone, queryMachine } from './query.machine.js'
import type { QueryEvent, QueryResult, QueryRun } from './types.js'
import type { ActorRefFrom } from 'xstate'

/**
 * The {@link QueryRun} of a running query actor: its emitted batches, then
 * its output (the `done` event), in an it-pushable that buffers them until
 * they are read. `done` resolves with the output; it rejects only if the
 * actor stopped before it ended (the catalog stopped under it) or failed.
 */
export function queryRun (id: string, query: ActorRefFrom<typeof queryMachine>): QueryRun {
  const events = pushable<QueryEvent>({ objectMode: true })
  const batches = query.on('batch', (batch: QueryBatch) => { events.push(batch) })
  const done = toPromise(query).then((output: QueryDone | undefined): QueryResult => {
    if (output == null) throw new CatalogNotStartedError('finish the query')
    events.push(output)
    events.end()
    return { summary: output.summary, hits: output.hits, sources: output.sources }
  }).catch((err: unknown) => {
    events.end(err instanceof Error ? err : new Error(String(err)))
    throw err
  }).finally(() => { batches.unsubscribe() })
  // whoever only iterates must not get an unhandled rejection from `done`
  done.catch(() => {})
  return { id, done, [Symbol.asyncIterator]: () => events }
}
