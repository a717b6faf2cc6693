import { waitFor } from 'xstate'
import type { AnyActorRef, Snapshot, StateValue } from 'xstate'

/** A machine snapshot as the lifecycle helper reads it */
type MachineSnapshot = Snapshot<unknown> & {
  matches(value: never): boolean
  context: { error?: Error | undefined }
}

/** Which states of a package machine mean what (each may list several) */
export interface LifecycleStates {
  running: StateValue | StateValue[]
  starting?: StateValue | StateValue[]
  stopping?: StateValue | StateValue[]
  stopped?: StateValue | StateValue[]
  failed?: StateValue | StateValue[]
}

export interface LifecycleErrors {
  /** The error to throw when starting failed; `cause` is the machine's `context.error` */
  startFailed(cause: Error | undefined): Error
  /** The error to throw when stopping failed */
  stopFailed(cause: Error | undefined): Error
  /** The error to throw when a stop arrived while starting */
  interrupted(): Error
}

/** `start()`/`stop()` of a `Startable` whose lifecycle is a machine */
export interface Lifecycle {
  /** Send `start` (unless starting already) and resolve once running; safe to call twice */
  start(): Promise<void>
  /** Send `stop` and resolve once stopped; a no-op when stopped or failed */
  stop(): Promise<void>
}

/**
 * The one implementation of `start()`/`stop()` for the packages' `Startable`
 * factories: the machine owns the lifecycle (events `start` and `stop`, states
 * for starting, running, stopping, stopped and failed with `context.error`), the
 * factory only sends events and waits for the states.
 */
export function actorLifecycle (
  actor: AnyActorRef,
  states: LifecycleStates,
  errors: LifecycleErrors
): Lifecycle {
  const list = (v: StateValue | StateValue[] | undefined, fallback: StateValue[]): StateValue[] =>
    v == null ? fallback : Array.isArray(v) ? v : [v]
  const running = list(states.running, [])
  const starting = list(states.starting, ['starting'])
  const stopping = list(states.stopping, ['stopping'])
  const stopped = list(states.stopped, ['stopped'])
  const failed = list(states.failed, ['failed'])
  const is = (s: MachineSnapshot, values: StateValue[]): boolean => values.some((v) => s.matches(v as never))
  const snapshot = (): MachineSnapshot => actor.getSnapshot() as MachineSnapshot
  const until = async (done: (s: MachineSnapshot) => boolean): Promise<MachineSnapshot> =>
    await waitFor(actor, (s) => done(s as MachineSnapshot)) as MachineSnapshot

  return {
    async start () {
      if (is(snapshot(), running)) return
      if (is(snapshot(), stopping)) await until((s) => !is(s, stopping))
      if (!is(snapshot(), starting)) actor.send({ type: 'start' })
      const reached = await until((s) => is(s, running) || is(s, failed) || is(s, stopped))
      if (is(reached, failed)) throw errors.startFailed(reached.context.error)
      if (!is(reached, running)) throw errors.interrupted()
    },
    async stop () {
      const current = snapshot()
      if (is(current, stopped) || is(current, failed)) return
      actor.send({ type: 'stop' })
      const reached = await until((s) => is(s, stopped) || is(s, failed))
      if (is(reached, failed)) throw errors.stopFailed(reached.context.error)
    }
  }
}
