import { describe, expect, it } from 'vitest'
import { createActor, createMachine, fromPromise, setup, toPromise } from 'xstate'
import { dial } from '../src/companion.actors.js'
import { companionMachine, companionStatus } from '../src/companion.machine.js'
import { store } from '../src/companions.actors.js'
import { companionsMachine } from '../src/companions.machine.js'
import type { CheckInput, DialInput, DialOutput } from '../src/companion.actors.js'
import type { StoreCommand, StoreReport } from '../src/companions.actors.js'
import type { CompanionRecord } from '../src/schema.js'
import type { KeyValueDatabase, Logger, Transport } from '@npp/transport'
import type { AnyStateMachine } from 'xstate'

// The parts of the machines that are not about the network: their shape, the writer, the status.

/** Every guard and action a machine's config references, with where; a function there is an inline one */
function references (machine: AnyStateMachine): Array<{ at: string, ref: unknown }> {
  const found: Array<{ at: string, ref: unknown }> = []
  const list = (value: unknown): unknown[] => value == null ? [] : Array.isArray(value) ? value : [value]
  const transitions = (at: string, value: unknown): void => {
    for (const t of list(value)) {
      if (typeof t === 'string' || t == null) continue
      const { guard, actions } = t as { guard?: unknown, actions?: unknown }
      if (guard != null) found.push({ at: `${at} guard`, ref: guard })
      for (const a of list(actions)) found.push({ at: `${at} action`, ref: a })
    }
  }
  const walk = (at: string, node: Record<string, unknown>): void => {
    for (const a of [...list(node.entry), ...list(node.exit)]) found.push({ at: `${at} entry/exit`, ref: a })
    for (const [event, t] of Object.entries((node.on ?? {}) as Record<string, unknown>)) transitions(`${at} on ${event}`, t)
    for (const [delay, t] of Object.entries((node.after ?? {}) as Record<string, unknown>)) transitions(`${at} after ${delay}`, t)
    transitions(`${at} always`, node.always)
    for (const inv of list(node.invoke) as Array<Record<string, unknown>>) {
      transitions(`${at} invoke onDone`, inv.onDone)
      transitions(`${at} invoke onError`, inv.onError)
    }
    for (const [name, child] of Object.entries((node.states ?? {}) as Record<string, Record<string, unknown>>)) walk(`${at}.${name}`, child)
  }
  walk(machine.id, machine.config as Record<string, unknown>)
  return found
}

describe('the machines reference every guard and action by name', () => {
  for (const machine of [companionMachine, companionsMachine]) {
    it(`${machine.id}: no inline guard or action, and each name is defined in setup()`, () => {
      const refs = references(machine)
      expect(refs.length).toBeGreaterThan(5)
      const inline = refs.filter((r) => typeof r.ref === 'function').map((r) => r.at)
      expect(inline).toEqual([])
      const { guards, actions } = machine.implementations as { guards: Record<string, unknown>, actions: Record<string, unknown> }
      for (const { at, ref } of refs) {
        const name = typeof ref === 'string' ? ref : (ref as { type: string }).type
        const defined = at.endsWith('guard') ? guards : actions
        expect(defined[name], `${at}: ${name}`).toBeDefined()
      }
    })
  }

  it('so a test can swap one with .provide()', async () => {
    // the companion's check says "connected", but a provided guard decides otherwise
    const machine = companionMachine.provide({
      guards: { connected: () => false },
      actors: {
        checkConnection: fromPromise<boolean, CheckInput>(async () => true),
        dial: fromPromise<DialOutput, DialInput>(async () => await new Promise<DialOutput>(() => {}))
      }
    })
    const parent = createActor(setup({ actors: { child: machine } }).createMachine({
      invoke: {
        id: 'child',
        src: 'child',
        input: {
          record: { userDb: '/orbitdb/x', profile: { userDb: '/orbitdb/x', username: 'x', pieces: '/orbitdb/y', nodeId: 'p' }, multiaddrs: [], hosts: [], firstSeen: 0, lastSeen: 0 },
          transport: {} as never,
          backoff: { initialMs: 1, maxMs: 1, factor: 2, jitter: 0 },
          log: silent,
          saved: true,
          random: () => 0
        }
      }
    }))
    parent.start()
    const child = parent.getSnapshot().children.child!
    await new Promise<void>((resolve) => {
      const sub = child.subscribe((s) => { if ((s as { value: unknown }).value === 'reconnecting') { sub.unsubscribe(); resolve() } })
      if ((child.getSnapshot() as { value: unknown }).value === 'reconnecting') resolve()
    })
    parent.stop()
  })
})

const silent: Logger = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {}, newScope: (): Logger => silent })

describe('store: the writer of the companions db', () => {
  const record = (userDb: string): CompanionRecord => ({
    userDb, profile: { userDb, username: 'u', pieces: '/orbitdb/p', nodeId: 'n' }, multiaddrs: [], hosts: [], firstSeen: 0, lastSeen: 0
  })

  it('applies commands one at a time, in order, and reports each (a failed one as store.failed)', async () => {
    const applied: string[] = []
    let running = 0
    const db = {
      async put (key: string) {
        running++
        expect(running).toBe(1)
        await new Promise((resolve) => setImmediate(resolve))
        applied.push(`put ${key}`)
        running--
      },
      async del (key: string) {
        applied.push(`del ${key}`)
        if (key === 'bad') throw new Error('disk full')
      }
    } as unknown as KeyValueDatabase<CompanionRecord>
    const errors: unknown[][] = []
    const log: Logger = Object.assign(() => {}, { enabled: false, error: (...args: unknown[]) => { errors.push(args) }, trace: () => {}, newScope: (): Logger => log })
    const reports: StoreReport[] = []
    const commands: StoreCommand[] = [{ type: 'put', record: record('a') }, { type: 'del', userDb: 'bad' }, { type: 'put', record: record('b') }, { type: 'del', userDb: 'a' }]
    let finish = (): void => {}
    const done = new Promise<void>((resolve) => { finish = resolve })
    const parent = createActor(createMachine({
      invoke: { id: 'store', src: store, input: { db, log } },
      on: {
        '*': {
          actions: ({ event }) => {
            reports.push(event as StoreReport)
            if (reports.length === commands.length) finish()
          }
        }
      }
    }))
    parent.start()
    for (const command of commands) parent.getSnapshot().children.store!.send(command)
    await done
    parent.stop()
    expect(applied).toEqual(['put a', 'del bad', 'put b', 'del a'])
    expect(reports.map((r) => `${r.type} ${r.userDb}`)).toEqual(['store.written a', 'store.failed bad', 'store.written b', 'store.written a'])
    expect(reports[1]).toMatchObject({ error: { message: 'disk full' } })
    expect(errors).toEqual([['writing the companions db failed: %s', 'disk full']])
  })
})

describe('companionStatus', () => {
  it('follows the companion actor only: online while it is, reconnecting while it dials, offline otherwise', () => {
    expect(['online', 'reconnecting', 'offline', 'saving', 'checking', 'init', undefined].map(companionStatus))
      .toEqual(['online', 'reconnecting', 'offline', 'offline', 'offline', 'offline', 'offline'])
  })
})

describe('dial: redialling a companion', () => {
  it('dials addresses on hosts we saw it at as ours, first; those it only advertised pass the dial policy', async () => {
    const peer = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    const calls: Array<{ address: string, advertised: boolean | undefined }> = []
    const transport = {
      isConnected: () => false,
      connect: async (address: string, options: { advertised?: boolean }) => {
        calls.push({ address, advertised: options.advertised })
        throw new Error('refused')
      }
    } as unknown as Transport
    const multiaddrs = [`/ip4/10.9.8.7/tcp/22/p2p/${peer}`, `/ip4/127.0.0.1/tcp/4001/p2p/${peer}`]
    const actor = createActor(dial, { input: { transport, peerId: peer, multiaddrs, hosts: ['127.0.0.1'] } })
    actor.start()
    await expect(toPromise(actor)).rejects.toThrow('refused')
    expect(calls).toEqual([
      { address: multiaddrs[1], advertised: false },
      { address: multiaddrs[0], advertised: true }
    ])
  })
})
