/**
 * One distributed query (`query-<id>`): one `sourceMachine` child per source,
 * a `batch` emitted as each source answers, and the merged result as the
 * machine's output (the `done` {@link QueryEvent}). Whoever spawned the query
 * subscribes to its emitted events and its output.
 */
import { assign, emit, enqueueActions, setup } from 'xstate'
import { sourceMachine } from './source.machine.js'
import type { SourceOutput } from './source.machine.js'
import type { Piece, PieceFilter, QueryEvent, SourceHandle } from './types.js'
import type { CatalogHit, QuerySource, SourceOutcome } from '@npp/bus'
import type { DoneActorEvent } from 'xstate'

export interface QueryInput {
  queryId: string
  filter: PieceFilter
  /** At most this many merged hits */
  limit: number | undefined
  timeoutMs: number
  handles: SourceHandle[]
  /** `performance.now()` when the query started */
  startedAt: number
}

export interface QueryContext extends QueryInput {
  /** Child id -> source, for the sources that have not ended */
  pending: Record<string, QuerySource>
  outcomes: SourceOutcome[]
  /** The hits of every source that answered, in order of arrival */
  answers: Array<{ source: QuerySource, hits: CatalogHit[] }>
  /**
   * Hashes of every piece each answering source found (the summary's `total` counts them
   * once), also of those beyond a source's `limit`; kept per source and counted at the end
   * (copying one growing record at every answer cost a 10-companion query ~3 ms)
   */
  found: string[][]
}

export type QueryMachineEvent =
  | DoneActorEvent<SourceOutput>
  /** End now: every source that has not ended fails as `stopped` */
  | { type: 'abort' }

/** What a query emits: one batch per source that answered */
export type QueryBatch = Extract<QueryEvent, { type: 'batch' }>
/** What a query outputs when it ends */
export type QueryDone = Extract<QueryEvent, { type: 'done' }>

function toHit (piece: Piece, source: QuerySource): CatalogHit {
  const hit: CatalogHit = { hash: piece.hash, instrument: piece.instrument, sources: [source] }
  if (piece.title != null) hit.title = piece.title
  if (piece.composer != null) hit.composer = piece.composer
  if (piece.notes != null) hit.notes = piece.notes
  return hit
}

/** De-duplicate by hash keeping every source (in order of arrival), sorted by title then hash */
export function mergeHits (answers: Array<{ source: QuerySource, hits: CatalogHit[] }>): CatalogHit[] {
  const merged = new Map<string, { hit: CatalogHit, key: string }>()
  for (const { source, hits } of answers) {
    for (const hit of hits) {
      const seen = merged.get(hit.hash)
      if (seen == null) merged.set(hit.hash, { hit: { ...hit, sources: [source] }, key: (hit.title ?? '').toLowerCase() })
      else seen.hit.sources.push(source)
    }
  }
  return [...merged.values()]
    .sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.hit.hash < b.hit.hash ? -1 : a.hit.hash > b.hit.hash ? 1 : 0)
    .map((m) => m.hit)
}

/** Child ids of the sources: `source-local`, `source-<peer id>` (suffixed when two share one) */
function childIds (handles: SourceHandle[]): string[] {
  const used = new Set<string>()
  return handles.map((h, i) => {
    let id = `source-${h.source.kind === 'local' ? 'local' : h.source.peerId}`
    if (used.has(id)) id = `${id}-${i}`
    used.add(id)
    return id
  })
}

/** The ended source's output, if the event is the end of one of our pending sources */
function endedSource (context: QueryContext, event: QueryMachineEvent): SourceOutput | undefined {
  return event.type !== 'abort' && event.actorId in context.pending ? event.output : undefined
}

export const queryMachine = setup({
  types: {
    context: {} as QueryContext,
    input: {} as QueryInput,
    events: {} as QueryMachineEvent,
    emitted: {} as QueryBatch,
    output: {} as QueryDone
  },
  actors: {
    source: sourceMachine
  },
  guards: {
    allEnded: ({ context }) => Object.keys(context.pending).length === 0,
    /** One of our sources ended with an answer */
    sourceAnswered: ({ context, event }) => endedSource(context, event)?.outcome.status === 'answered',
    /** One of our sources ended (answered, failed or timed out) */
    sourceEnded: ({ context, event }) => endedSource(context, event) != null
  },
  actions: {
    spawnSources: enqueueActions(({ context, enqueue }) => {
      const ids = childIds(context.handles)
      context.handles.forEach((handle, i) => {
        enqueue.spawnChild('source', {
          id: ids[i]!,
          input: { handle, filter: context.filter, timeoutMs: context.timeoutMs, startedAt: context.startedAt }
        })
      })
    }),
    /** Note how a source ended, and keep its hits if it answered */
    recordSource: assign(({ context, event }) => {
      if (event.type === 'abort') return {}
      const pending = { ...context.pending }
      delete pending[event.actorId]
      const { outcome, pieces } = event.output
      const outcomes = [...context.outcomes, outcome]
      if (outcome.status !== 'answered') return { pending, outcomes }
      // at most `limit` per source, the first in the final order: the query's first `limit` hits are among
      // them, and no source can make the query hold (or send) more than that
      const sorted = mergeHits([{ source: outcome.source, hits: pieces.map((p) => toHit(p, outcome.source)) }])
      const hits = context.limit == null ? sorted : sorted.slice(0, context.limit)
      const found = [...context.found, pieces.map((p) => p.hash)]
      return { pending, outcomes, found, answers: [...context.answers, { source: outcome.source, hits }] }
    }),
    /** The answer just recorded, as a batch */
    emitBatch: emit(({ context }): QueryBatch => {
      const { source, hits } = context.answers.at(-1)!
      return { type: 'batch', queryId: context.queryId, source, hits }
    }),
    /** End every source that has not ended as `failed` (`stopped`) */
    abortPending: assign({
      pending: {},
      outcomes: ({ context }) => [
        ...context.outcomes,
        ...Object.values(context.pending).map((source): SourceOutcome => ({ source, status: 'failed', hits: 0, reason: 'stopped', ms: 0 }))
      ]
    })
  }
}).createMachine({
  id: 'query',
  context: ({ input }) => {
    const ids = childIds(input.handles)
    return {
      ...input,
      pending: Object.fromEntries(ids.map((id, i) => [id, input.handles[i]!.source])),
      outcomes: [],
      answers: [],
      found: []
    }
  },
  initial: 'running',
  states: {
    running: {
      entry: 'spawnSources',
      always: { guard: 'allEnded', target: 'done' },
      on: {
        'xstate.done.actor.*': [
          { guard: 'sourceAnswered', actions: ['recordSource', 'emitBatch'] },
          { guard: 'sourceEnded', actions: 'recordSource' }
        ],
        abort: { target: 'done', actions: 'abortPending' }
      }
    },
    done: { type: 'final' }
  },
  output: ({ context }): QueryDone => {
    const all = mergeHits(context.answers)
    const count = (status: SourceOutcome['status']): number => context.outcomes.filter((o) => o.status === status).length
    return {
      type: 'done',
      queryId: context.queryId,
      summary: { answered: count('answered'), timedOut: count('timedOut'), failed: count('failed'), syncing: context.outcomes.filter((o) => o.syncing != null).length, total: new Set(context.found.flat()).size },
      hits: context.limit == null ? all : all.slice(0, context.limit),
      sources: context.outcomes
    }
  }
})
