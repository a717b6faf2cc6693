import { describe, expect, it } from 'vitest'
import { createActor, toPromise } from 'xstate'
import { SourceUnavailableError, queryMachine } from '../src/index.js'
import type { Piece, QueryEvent, SourceHandle, SourceReply } from '../src/index.js'
import type { QuerySource } from '@npp/bus'

const piece = (hash: string, title: string): Piece => ({ hash, instrument: 'violin', title, addedAt: 0 })
const source = (name: string): QuerySource => ({ kind: name === 'me' ? 'local' : 'companion', username: name, peerId: `peer-${name}` })

/** Run a query over these sources; its emitted batches, then its output (the done event) */
async function runQuery (handles: SourceHandle[], options: { limit?: number, timeoutMs?: number } = {}): Promise<QueryEvent[]> {
  const reports: QueryEvent[] = []
  const actor = createActor(queryMachine, {
    input: { queryId: 'q', filter: {}, limit: options.limit, timeoutMs: options.timeoutMs ?? 200, handles, startedAt: performance.now() }
  })
  actor.on('batch', (batch) => { reports.push(batch) })
  actor.start()
  reports.push(await toPromise(actor))
  return reports
}

describe('queryMachine', () => {
  it('merges batches by hash keeping every source, sorts by title and applies the limit to the merged hits', async () => {
    const reports = await runQuery([
      { source: source('me'), answer: async () => ({ pieces: [piece('h1', 'B'), piece('h2', 'a')] }) },
      { source: source('bob'), answer: async () => ({ pieces: [piece('h1', 'B'), piece('h3', 'C')] }) }
    ], { limit: 2 })
    expect(reports.filter((r) => r.type === 'batch').map((r) => r.source.username)).toEqual(['me', 'bob'])
    expect(reports.map((r) => r.queryId)).toEqual(['q', 'q', 'q'])
    const done = reports.at(-1)!
    if (done.type !== 'done') throw new Error('no done')
    expect(done.summary).toEqual({ answered: 2, timedOut: 0, failed: 0, syncing: 0, total: 3 })
    expect(done.hits.map((h) => [h.hash, h.sources.map((s) => s.username)])).toEqual([['h2', ['me']], ['h1', ['me', 'bob']]])
  })

  it('sends and keeps at most `limit` hits per source (the first in the final order), and still counts every piece found', async () => {
    const many = Array.from({ length: 1_000 }, (_, i) => piece(`m${String(i).padStart(4, '0')}`, `T${String(999 - i).padStart(4, '0')}`))
    const reports = await runQuery([{ source: source('bob'), answer: async () => ({ pieces: many }) }], { limit: 3 })
    const batch = reports.find((r) => r.type === 'batch')
    expect(batch?.type === 'batch' ? batch.hits.map((h) => h.title) : []).toEqual(['T0000', 'T0001', 'T0002'])
    const done = reports.at(-1)!
    if (done.type !== 'done') throw new Error('no done')
    expect(done.summary.total).toBe(1_000)
    expect(done.hits).toHaveLength(3)
  })

  it('ends a source that never answers as timedOut and one that throws as failed, and still answers', async () => {
    const never: SourceHandle = {
      source: source('slow'),
      answer: async (_filter, signal) => await new Promise<SourceReply>((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }) })
    }
    const broken: SourceHandle = { source: source('gone'), answer: async () => { throw new SourceUnavailableError('offline', 'not connected') } }
    const reports = await runQuery([{ source: source('me'), answer: async () => ({ pieces: [piece('h1', 'x')] }) }, never, broken], { timeoutMs: 50 })
    const done = reports.at(-1)!
    if (done.type !== 'done') throw new Error('no done')
    expect(done.summary).toEqual({ answered: 1, timedOut: 1, failed: 1, syncing: 0, total: 1 })
    expect(done.sources.map((s) => [s.source.username, s.status, s.reason])).toEqual([
      ['me', 'answered', undefined], ['gone', 'failed', 'offline'], ['slow', 'timedOut', 'timeout']
    ])
  })

  it('keeps how far a syncing source was in its outcome and counts it in the summary', async () => {
    const reports = await runQuery([
      { source: source('me'), answer: async () => ({ pieces: [piece('h1', 'x')] }) },
      { source: source('bob'), answer: async () => ({ pieces: [piece('h2', 'y')], syncing: { done: 250, known: 1_000 } }) }
    ])
    const done = reports.at(-1)!
    if (done.type !== 'done') throw new Error('no done')
    expect(done.summary).toEqual({ answered: 2, timedOut: 0, failed: 0, syncing: 1, total: 2 })
    expect(done.sources.map((s) => [s.source.username, s.status, s.syncing])).toEqual([['me', 'answered', undefined], ['bob', 'answered', { done: 250, known: 1_000 }]])
  })

  it('ends every pending source as failed ("stopped") when aborted', async () => {
    const pending: SourceHandle = { source: source('slow'), answer: async () => await new Promise<SourceReply>(() => {}) }
    const actor = createActor(queryMachine, { input: { queryId: 'q', filter: {}, limit: undefined, timeoutMs: 60_000, handles: [pending], startedAt: 0 } }).start()
    actor.send({ type: 'abort' })
    expect(await toPromise(actor)).toMatchObject({ type: 'done', summary: { answered: 0, timedOut: 0, failed: 1, total: 0 }, sources: [{ status: 'failed', reason: 'stopped' }] })
  })
})
