import { describe, expect, it } from 'vitest'
import { admit, drain } from '../src/admission.js'
import { resolveOptions } from '../src/options.js'
import type { AdmissionState, Queued } from '../src/admission.js'

const db = (n: number): string => `/orbitdb/zdpuApmiuKjZkcHcJtdU4zk2vapuA5PZKSaBArGULa6JYWA${String(n).padStart(2, 'A').replace(/\d/g, (d) => 'BCDEFGHJKL'[Number(d)]!)}`
const state = (over: Partial<AdmissionState> = {}): AdmissionState => ({
  options: resolveOptions({ maxConcurrent: 2, maxQueued: 8 }),
  userDb: db(99),
  active: {},
  queue: [],
  retrying: {},
  known: {},
  removed: {},
  ...over
})
const a = (from: string, n: number): Queued => ({ from, userDb: db(n), attempt: 0 })

describe('admission is fair between senders', () => {
  it('one sender holds at most maxPerSender places (validating + waiting); others still get theirs', () => {
    const busy = state({ active: { [db(1)]: a('mallory', 1) }, queue: [a('mallory', 2)] })
    const third = admit(busy, a('mallory', 3))
    expect(third).toMatchObject({ kind: 'full', detail: expect.stringMatching(/at most 2 per sender/) })
    expect(admit(busy, a('alice', 4))).toMatchObject({ kind: 'start' })
  })

  it('a freed slot goes to the waiting sender with the fewest validations running, not to the oldest entry', () => {
    const s = state({
      options: resolveOptions({ maxConcurrent: 2, maxQueued: 8, maxPerSender: 4 }),
      active: { [db(1)]: a('mallory', 1) },
      queue: [a('mallory', 2), a('mallory', 3), a('alice', 4)]
    })
    const next = drain(s)
    expect(next.start.map((x) => x.from)).toEqual(['alice'])
    // what still waits keeps its order
    expect(next.queue).toEqual([a('mallory', 2), a('mallory', 3)])
  })
})
