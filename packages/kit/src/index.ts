/**
 * @packageDocumentation
 *
 * The few helpers that several packages of New Piece, Please! need, written
 * once: the retry schedule ({@link backoffDelay}), the writer actor that
 * applies db writes one at a time ({@link serialWriter}), the buffer of bus
 * events that arrive before a machine runs ({@link keepEarly}) and the
 * one-line text of a failed schema parse ({@link describeIssues}), and the base
 * of every typed error ({@link NppError}, whose `kind` gives its HTTP meaning).
 *
 * @example Retry with jitter in a machine's delay
 *
 * ```ts
 * import { backoffDelay } from '@npp/kit'
 * import { setup } from 'xstate'
 *
 * const machine = setup({
 *   delays: {
 *     retry: ({ context }) => backoffDelay(context.failures - 1, { initialMs: 500, maxMs: 30_000, jitter: 0.5 })
 *   }
 * }).createMachine({ ... })
 * ```
 */

export { backoffDelay } from './backoff.js'
export type { BackoffOptions } from './backoff.js'
export { describeIssues } from './issues.js'
export type { SchemaIssue } from './issues.js'
export { keepEarly, omit, MAX_EARLY } from './early.js'
export { NppError, HTTP_STATUS, errorKind, toError } from './errors.js'
export type { ErrorKind } from './errors.js'
export { serialWriter } from './serial-writer.js'
export type { SerialWriterOptions } from './serial-writer.js'
