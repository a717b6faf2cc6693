import { transportMachine } from '@npp/transport'
import { describe, expect, it } from 'vitest'
import { assign, createActor, fromPromise, setup } from 'xstate'
import { activeStateIds, collectMachines, machineGraph, mermaidIds, toMermaid } from '../src/inspect/graph.js'
import { InspectionRecorder, summarize } from '../src/inspect/recorder.js'

const child = setup({}).createMachine({
  id: 'child',
  initial: 'online',
  states: { online: { on: { drop: 'offline' } }, offline: { on: { back: 'online' } } }
})

const sample = setup({
  types: { context: {} as { n: number } },
  actors: { load: fromPromise(async () => 1), child },
  guards: { isBig: ({ context }) => context.n > 1 },
  delays: { retry: 500 }
}).createMachine({
  id: 'sample',
  context: { n: 0 },
  initial: 'idle',
  on: { reset: '.idle' },
  states: {
    idle: { on: { go: 'working', tick: { actions: assign({ n: ({ context }) => context.n + 1 }) } } },
    working: {
      initial: 'loading',
      states: {
        loading: { invoke: { src: 'load', onDone: 'ready', onError: 'waiting' } },
        waiting: { after: { retry: 'loading' } },
        ready: { always: { guard: 'isBig', target: '#sample.done' } }
      },
      on: { cancel: 'idle' }
    },
    both: {
      type: 'parallel',
      states: {
        left: { initial: 'a', states: { a: { on: { flip: 'b' } }, b: {} } },
        right: { initial: 'c', states: { c: {} } }
      }
    },
    done: { type: 'final' }
  }
})

describe('machine graphs derived from definitions', () => {
  it('walks states, transitions, guards, delays, eventless transitions and invokes', () => {
    const g = machineGraph(sample, 'test')
    expect(g.id).toBe('sample')
    expect(g.childMachines).toEqual(['child'])
    const working = g.root.children.find((c) => c.key === 'working')!
    expect(working.type).toBe('compound')
    expect(working.initial).toBe('loading')
    const loading = working.children.find((c) => c.key === 'loading')!
    expect(loading.invokes).toEqual(['load'])
    expect(loading.edges.map((e) => e.event)).toEqual(['done: load', 'error: load'])
    const waiting = working.children.find((c) => c.key === 'waiting')!
    expect(waiting.edges).toEqual([{ source: 'sample.working.waiting', target: 'sample.working.loading', event: 'after retry' }])
    const ready = working.children.find((c) => c.key === 'ready')!
    expect(ready.edges).toEqual([{ source: 'sample.working.ready', target: 'sample.done', event: 'always', guard: 'isBig' }])
    const idle = g.root.children.find((c) => c.key === 'idle')!
    // a transition without a target changes no state: kept as `handles`, not drawn as an arrow
    expect(idle.handles).toEqual(['tick'])
    expect(idle.edges.map((e) => e.event)).toEqual(['go'])
  })

  it('draws a mermaid stateDiagram-v2 with nesting, parallel regions and highlighted states', () => {
    const g = machineGraph(sample, 'test')
    const ids = mermaidIds(g)
    const text = toMermaid(g, { active: activeStateIds(g, { working: 'waiting' }) })
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true)
    expect(text).toContain(`state ${ids['sample.working']} {`)
    expect(text).toContain(`[*] --> ${ids['sample.working.loading']}`)
    expect(text).toContain(`${ids['sample.working.waiting']} --> ${ids['sample.working.loading']} : after retry`)
    // an arrow out of a composite state into another top-level state is lifted to the composite
    expect(text).toContain(`${ids['sample.working']} --> ${ids['sample.done']} : always [isBig]`)
    // the root-level `reset` applies in any state
    expect(text).toContain(`any_state --> ${ids['sample.idle']} : reset`)
    expect(text).toMatch(/\n\s+--\n/) // parallel regions
    expect(text).toContain(`class ${ids['sample.working.waiting']} active`)
    expect(text).not.toContain(`class ${ids['sample.working']},`) // composite states are not styled
  })

  it('draws the transport machine', () => {
    const g = machineGraph(transportMachine, '@npp/transport')
    const text = toMermaid(g)
    const ids = mermaidIds(g)
    expect(text).toContain(`${ids['transport.stopped']} --> ${ids['transport.starting']} : start`)
    expect(text).toContain(`${ids['transport.starting']} --> ${ids['transport.online']} : done: startNode`)
    expect(text).toContain(`${ids['transport.starting']} --> ${ids['transport.stopping']} : done: startNode [stopRequested]`)
    expect(g.root.children.find((c) => c.key === 'online')?.handles).toContain('node.peerConnected')
  })

  it('collects child machines from setup({ actors }) once each', () => {
    const all = collectMachines([{ owner: 'a', machine: sample }, { owner: 'b', machine: child }])
    expect(all.map((m) => [m.owner, m.machine.id])).toEqual([['a', 'sample'], ['a', 'child']])
  })

  it('computes active state ids of nested and parallel values', () => {
    const g = machineGraph(sample, 'test')
    expect(activeStateIds(g, 'idle')).toEqual(['sample.idle'])
    expect(activeStateIds(g, { both: { left: 'b', right: 'c' } })).toEqual(['sample.both', 'sample.both.left', 'sample.both.left.b', 'sample.both.right', 'sample.both.right.c'])
  })
})

describe('inspection recorder', () => {
  const parent = setup({ actors: { child } }).createMachine({
    id: 'parent',
    initial: 'running',
    states: {
      running: {
        on: {
          add: { actions: assign(({ spawn }) => { spawn('child', { id: 'companion-1' }); return {} }) },
          stopAll: 'quiet'
        }
      },
      quiet: {}
    }
  })

  it('tracks live actors, spawned children, their states and the events between them', () => {
    const recorder = new InspectionRecorder({ owners: { parent: 'test' } })
    const records: string[] = []
    recorder.subscribe((r) => { records.push(r.kind) })
    const actor = createActor(parent, { inspect: recorder.inspect }).start()
    actor.send({ type: 'add' })
    const spawned = recorder.liveActors().find((a) => a.id === 'companion-1')
    expect(spawned).toMatchObject({ machine: 'child', value: 'online', active: ['child.online'], status: 'active' })
    expect(spawned?.parent).toBe(actor.sessionId)
    expect(recorder.machineGraphs().map((g) => g.id).sort()).toEqual(['child', 'parent'])

    actor.getSnapshot().children['companion-1']?.send({ type: 'drop' })
    expect(recorder.liveActors().find((a) => a.id === 'companion-1')?.value).toBe('offline')
    const log = recorder.recent()
    expect(log.some((r) => r.kind === 'event' && r.event === 'drop' && r.targetLabel === 'companion-1')).toBe(true)

    actor.stop()
    expect(records).toContain('actor')
    expect(records).toContain('snapshot')
  })

  it('adopts actors created before it was attached, and sees children stop', () => {
    const machine = setup({ actors: { child } }).createMachine({
      id: 'host',
      initial: 'on',
      states: { on: { invoke: { src: 'child', id: 'kid' }, on: { off: 'off' } }, off: {} }
    })
    const actor = createActor(machine).start()
    const recorder = new InspectionRecorder()
    recorder.adopt(actor)
    actor.system.inspect(recorder.inspect)
    expect(recorder.liveActors().map((a) => [a.label, a.value])).toEqual([['host', 'on'], ['kid', 'online']])
    actor.send({ type: 'off' })
    expect(recorder.liveActors().map((a) => a.label)).toEqual(['host'])
    expect(recorder.recent().some((r) => r.kind === 'stopped')).toBe(true)
    actor.stop()
  })

  it('summarizes payloads without walking class instances and within bounds', () => {
    class Node { huge = new Array(10_000).fill(1) }
    expect(summarize({ type: 'x', node: new Node(), peerId: 'abc' })).toBe('{"node":"[Node]","peerId":"abc"}')
    expect(summarize({ type: 'x' })).toBeUndefined()
    expect(summarize({ type: 'x', text: 'y'.repeat(1000) })!.length).toBeLessThanOrEqual(240)
    const cyclic: Record<string, unknown> = { type: 'x' }
    cyclic.self = cyclic
    expect(summarize(cyclic)).toContain('circular')
  })
})
