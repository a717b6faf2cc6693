import { describe, expect, it } from 'vitest'
import { createActor, setup, assign } from 'xstate'
import { z } from 'zod'
import * as kit from '../src/index.js'
import { NppError, backoffDelay, describeIssues, errorKind, keepEarly, omit, serialWriter } from '../src/index.js'

describe('backoffDelay', () => {
  it('doubles from initialMs up to maxMs', () => {
    const options = { initialMs: 500, maxMs: 8_000 }
    expect([0, 1, 2, 3, 4, 5, 9].map((n) => backoffDelay(n, options))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000])
  })

  it('shortens each delay by at most `jitter` of itself', () => {
    const options = { initialMs: 1_000, maxMs: 30_000, factor: 3, jitter: 0.5 }
    expect(backoffDelay(1, options, () => 0)).toBe(3_000)
    expect(backoffDelay(1, options, () => 1)).toBe(1_500)
    expect(backoffDelay(10, options, () => 0.999)).toBeGreaterThanOrEqual(15_000)
  })
})

describe('describeIssues', () => {
  it('says every issue with its path in one line', () => {
    const result = z.object({ hash: z.string(), n: z.number() }).safeParse({ n: 'x' })
    expect(result.success).toBe(false)
    if (result.success) return
    expect(describeIssues(result.error)).toMatch(/^hash: .+; n: .+$/)
    expect(describeIssues([{ path: [], message: 'not an object' }])).toBe('(value): not an object')
  })
})

describe('keepEarly and omit', () => {
  it('keep at most `max` events and never change their input', () => {
    const early = ['a']
    expect(keepEarly(early, 'b', 2)).toEqual(['a', 'b'])
    expect(keepEarly(['a', 'b'], 'c', 2)).toEqual(['a', 'b'])
    expect(early).toEqual(['a'])
    const record = { a: 1, b: 2 }
    expect(omit(record, 'a')).toEqual({ b: 2 })
    expect(record).toEqual({ a: 1, b: 2 })
  })
})

describe('serialWriter', () => {
  it('applies commands one at a time, in order, and reports each', async () => {
    const applied: number[] = []
    let running = 0
    let overlap = false
    type Command = { type: 'write', n: number }
    const writer = serialWriter<Command, { fail: number }>({
      apply: async (command, input) => {
        running++
        if (running > 1) overlap = true
        await new Promise((resolve) => setImmediate(resolve))
        running--
        if (command.n === input.fail) throw new Error(`no ${command.n}`)
        applied.push(command.n)
      },
      report: (command, error) => ({ type: 'written', n: command.n, error: error?.message })
    })
    const machine = setup({
      types: { context: {} as { reports: Array<{ n: number, error: string | undefined }> } },
      actors: { writer },
      actions: {
        record: assign({ reports: ({ context, event }) => [...context.reports, { n: (event as unknown as { n: number }).n, error: (event as unknown as { error: string | undefined }).error }] })
      }
    }).createMachine({
      context: { reports: [] },
      invoke: { id: 'writer', src: 'writer', input: { fail: 2 } },
      on: { written: { actions: 'record' } }
    })
    const actor = createActor(machine).start()
    for (const n of [1, 2, 3]) actor.getSnapshot().children.writer?.send({ type: 'write', n })
    const { waitFor } = await import('xstate')
    const done = await waitFor(actor, (s) => s.context.reports.length === 3)
    expect(done.context.reports).toEqual([{ n: 1, error: undefined }, { n: 2, error: 'no 2' }, { n: 3, error: undefined }])
    expect(applied).toEqual([1, 3])
    expect(overlap).toBe(false)
    actor.stop()
  })
})

describe('NppError', () => {
  it('carries a stable name and the HTTP meaning of its kind', () => {
    class NotStarted extends NppError { override readonly kind = 'not-started' }
    const err = new NotStarted('start it first')
    expect(err.name).toBe('NotStarted')
    expect(err.httpStatus).toBe(503)
    expect(errorKind(err)).toBe('not-started')
    expect(errorKind(new Error('x'))).toBe('failure')
    expect(new NppError('x').httpStatus).toBe(500)
  })
})

describe('public API', () => {
  it('exports exactly these names (a change here is a change of the public API)', () => {
    expect(Object.keys(kit).sort()).toEqual(['HTTP_STATUS', 'MAX_EARLY', 'NppError', 'backoffDelay', 'describeIssues', 'errorKind', 'keepEarly', 'omit', 'serialWriter', 'toError'])
  })
})
