import { fromBus, toError } from '@npp/bus'
import { assign, fromCallback, fromPromise, setup } from 'xstate'
import { ComponentFailedError } from './errors.js'
import type { Bus } from '@npp/bus'
import type { Startable } from '@libp2p/interface'
import type { AnyActorRef, SnapshotFrom } from 'xstate'

/**
 * The app's root machine: it brings the package components of one peer up in
 * order and down in reverse, and while they run it invokes one actor per package
 * under the package's name as XState system id (`transport`, `catalog`,
 * `companions`, `discovery`), so `actor.system.get('catalog')` finds it. The
 * order is the packages' contract: companions redial first (the catalog follows
 * them from its creation, whenever they come online), the catalog writes our
 * profile before discovery announces it, and both listen before discovery finds any.
 *
 * Why not invoke the package machines (`transportMachine`, ...) directly? Each
 * package's factory creates and owns its machine's actor; that actor *is* the
 * package's public object (`transport.connect()` reads its context, the bus is
 * wired to it with `forwardEmitted`). Invoking the machine a second time here would
 * either run a second, unowned copy or need the factories to accept a parent actor,
 * which reaches into how each package builds itself. So the root machine invokes
 * small host actors: `startComponent`/`stopComponents` (fromPromise) drive the
 * packages' `Startable` lifecycle, and `hostComponent` (fromCallback, one per
 * package, with the package's system id) follows the package actor while the peer
 * runs and reports its state and failure back. The package actors themselves are
 * created with the same `inspect` observer as this machine, so the inspector shows
 * the root, the hosts and every package actor with all of their children.
 */

/** The packages of a peer, in start order (stop order is the reverse) */
export const COMPONENTS = ['transport', 'companions', 'catalog', 'discovery'] as const
export type ComponentName = typeof COMPONENTS[number]

/** What the root machine needs of a package: its lifecycle and its actor */
export interface Component extends Startable {
  readonly actor: AnyActorRef
}

export type Components = Record<ComponentName, Component>

export interface AppMachineInput {
  components: Components
  bus: Bus
}

export interface AppMachineContext extends AppMachineInput {
  /** Why the peer failed (start or runtime) */
  error: Error | undefined
  /** Latest state of each package actor, for status displays */
  states: Partial<Record<ComponentName, string>>
}

export type AppMachineEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'component.changed', name: ComponentName, state: string }
  | { type: 'component.failed', name: ComponentName, error: Error }
  | { type: 'transport:failed', error: Error }

/** A state value as one readable string: `online`, `running.idle` */
export function stateString (value: unknown): string {
  if (typeof value === 'string') return value
  if (value == null || typeof value !== 'object') return String(value)
  return Object.entries(value).map(([k, v]) => {
    const sub = stateString(v)
    return sub === '' || sub === 'undefined' ? k : `${k}.${sub}`
  }).join(',')
}

const startState = (name: ComponentName, next: string): object => ({
  invoke: {
    src: 'startComponent',
    input: ({ context }: { context: AppMachineContext }) => ({ name, component: context.components[name] }),
    onDone: next,
    onError: { target: '#npp.failing', actions: 'recordError' }
  }
})

export const appMachine = setup({
  types: {
    context: {} as AppMachineContext,
    events: {} as AppMachineEvent,
    input: {} as AppMachineInput
  },
  actors: {
    /** Start one package (Startable.start() takes no signal: a stop meanwhile waits for it) */
    startComponent: fromPromise<void, { name: ComponentName, component: Component }>(async ({ input }) => {
      await input.component.start()
    }),
    /** Stop every package in reverse start order; every one is tried, the first error is reported */
    stopComponents: fromPromise<void, { components: Components }>(async ({ input }) => {
      const errors: Error[] = []
      for (const name of [...COMPONENTS].reverse()) {
        try {
          await input.components[name].stop()
        } catch (err) {
          errors.push(toError(err))
        }
      }
      if (errors.length > 0) throw errors[0]
    }),
    /** Follow one package actor while the peer runs: its state, and its failure */
    hostComponent: fromCallback<AppMachineEvent, { name: ComponentName, component: Component }>(({ input, sendBack }) => {
      const { name, component } = input
      let last: string | undefined
      const report = (snapshot: SnapshotFrom<AnyActorRef>): void => {
        const s = snapshot as { status?: string, value?: unknown, error?: unknown }
        if (s.status === 'error') {
          sendBack({ type: 'component.failed', name, error: toError(s.error) })
          return
        }
        const state = stateString(s.value ?? s.status)
        if (state === last) return // only changes of the top-level state, not every snapshot
        last = state
        sendBack({ type: 'component.changed', name, state })
      }
      report(component.actor.getSnapshot())
      const sub = component.actor.subscribe({
        next: report,
        error: (err) => { sendBack({ type: 'component.failed', name, error: toError(err) }) }
      })
      return () => { sub.unsubscribe() }
    }),
    bus: fromBus(['transport:failed'])
  },
  actions: {
    /** A start or stop failed: keep its error */
    recordError: assign({ error: ({ event }) => toError((event as { error?: unknown }).error) }),
    clearError: assign({ error: undefined }),
    /** A package actor's top-level state changed */
    recordState: assign({
      states: ({ context, event }) => event.type === 'component.changed' ? { ...context.states, [event.name]: event.state } : context.states
    }),
    /** A package failed at run time: the error names the package */
    recordComponentFailure: assign({
      error: ({ context, event }) => event.type === 'component.failed' ? new ComponentFailedError(event.name, event.error) : context.error
    }),
    /** The transport reported a failure on the bus */
    recordTransportFailure: assign({
      error: ({ context, event }) => event.type === 'transport:failed' ? event.error : context.error
    })
  }
}).createMachine({
  id: 'npp',
  context: ({ input }) => ({ ...input, error: undefined, states: {} }),
  initial: 'idle',
  states: {
    idle: {
      on: { start: 'starting' }
    },
    starting: {
      entry: 'clearError',
      initial: 'transport',
      on: { stop: 'stopping' },
      states: {
        transport: startState('transport', 'companions'),
        companions: startState('companions', 'catalog'),
        catalog: startState('catalog', 'discovery'),
        discovery: startState('discovery', '#npp.running')
      }
    },
    running: {
      invoke: [
        { src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
        ...COMPONENTS.map((name) => ({
          src: 'hostComponent' as const,
          id: name,
          systemId: name,
          input: ({ context }: { context: AppMachineContext }) => ({ name, component: context.components[name] })
        }))
      ],
      on: {
        stop: 'stopping',
        'component.changed': { actions: 'recordState' },
        'component.failed': { target: 'failing', actions: 'recordComponentFailure' },
        'transport:failed': { target: 'failing', actions: 'recordTransportFailure' }
      }
    },
    stopping: {
      invoke: {
        src: 'stopComponents',
        input: ({ context }) => ({ components: context.components }),
        onDone: 'stopped',
        onError: { target: 'failed', actions: 'recordError' }
      }
    },
    /** Something failed: stop what runs (errors of that are secondary) and keep the first error */
    failing: {
      invoke: {
        src: 'stopComponents',
        input: ({ context }) => ({ components: context.components }),
        onDone: 'failed',
        onError: 'failed'
      }
    },
    stopped: {
      on: { start: 'starting' }
    },
    failed: {
      on: { start: 'starting', stop: 'stopped' }
    }
  }
})
