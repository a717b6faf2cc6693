/** The one side effect of a query's source: asking it (see ./source.machine.ts) */
import { fromPromise } from 'xstate'
import { failureReason } from './errors.js'
import type { PieceFilter, SourceHandle, SourceReply } from './types.js'

/** What a source answered, or why it could not, and when (ms since the query started) */
export type SourceAnswer = ({ ok: true, ms: number } & SourceReply) | { ok: false, reason: string, ms: number }

export interface AnswerInput {
  handle: SourceHandle
  filter: PieceFilter
  /** `performance.now()` when the query started */
  startedAt: number
}

/** Ask one source; never rejects: a failure is an answer with its reason */
export const answer = fromPromise<SourceAnswer, AnswerInput>(async ({ input, signal }) => {
  try {
    const reply = await input.handle.answer(input.filter, signal)
    return { ok: true, ...reply, ms: performance.now() - input.startedAt }
  } catch (err) {
    return { ok: false, reason: failureReason(err), ms: performance.now() - input.startedAt }
  }
})
