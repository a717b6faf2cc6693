/**
 * One source of one query (`source-local`, `source-<peer id>`): our catalog
 * or one companion's, asked once.
 */
import { assign, setup } from 'xstate'
import { failureReason } from './errors.js'
import { answer } from './source.actors.js'
import type { SourceAnswer } from './source.actors.js'
import type { Piece, PieceFilter, SourceHandle } from './types.js'
import type { SourceOutcome } from '@npp/bus'

export interface SourceInput {
  handle: SourceHandle
  filter: PieceFilter
  timeoutMs: number
  /** `performance.now()` when the query started */
  startedAt: number
}

export interface SourceContext extends SourceInput {
  outcome: SourceOutcome | undefined
  pieces: Piece[]
}

/** The output of a source: how it ended, and its pieces if it answered */
export interface SourceOutput {
  outcome: SourceOutcome
  pieces: Piece[]
}

/**
 * Answers from an index, or ends as `timedOut` after `timeoutMs`, or as
 * `failed` (with a reason). Its output goes to the query as the
 * `xstate.done.actor.source-...` event.
 */
export const sourceMachine = setup({
  types: {
    context: {} as SourceContext,
    input: {} as SourceInput,
    output: {} as SourceOutput
  },
  actors: { answer },
  guards: {
    /** The source answered (a failure comes back as an answer too, with `ok: false`) */
    answered: (_, answer: SourceAnswer) => answer.ok
  },
  actions: {
    /** Keep how the source ended, and its pieces if it answered */
    keepAnswer: assign(({ context }, answer: SourceAnswer) => {
      const { source } = context.handle
      return answer.ok
        ? { pieces: answer.pieces, outcome: { source, status: 'answered' as const, hits: answer.pieces.length, ms: answer.ms, ...(answer.syncing == null ? {} : { syncing: answer.syncing }) } }
        : { outcome: { source, status: 'failed' as const, hits: 0, reason: answer.reason, ms: answer.ms } }
    }),
    keepTimeout: assign({
      outcome: ({ context }) => ({ source: context.handle.source, status: 'timedOut' as const, hits: 0, reason: 'timeout', ms: context.timeoutMs })
    })
  },
  delays: {
    timeout: ({ context }) => context.timeoutMs
  }
}).createMachine({
  id: 'source',
  context: ({ input }) => ({ ...input, outcome: undefined, pieces: [] }),
  initial: 'answering',
  states: {
    answering: {
      invoke: {
        src: 'answer',
        input: ({ context }) => ({ handle: context.handle, filter: context.filter, startedAt: context.startedAt }),
        onDone: [
          { guard: { type: 'answered', params: ({ event }) => event.output }, target: 'answered', actions: { type: 'keepAnswer', params: ({ event }) => event.output } },
          { target: 'failed', actions: { type: 'keepAnswer', params: ({ event }) => event.output } }
        ],
        onError: {
          target: 'failed',
          actions: { type: 'keepAnswer', params: ({ event }) => ({ ok: false as const, reason: failureReason(event.error), ms: 0 }) }
        }
      },
      after: {
        timeout: { target: 'timedOut', actions: 'keepTimeout' }
      }
    },
    answered: { type: 'final' },
    failed: { type: 'final' },
    timedOut: { type: 'final' }
  },
  output: ({ context }) => ({ outcome: context.outcome!, pieces: context.pieces })
})
