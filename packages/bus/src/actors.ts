import { fromCallback } from 'xstate'
import type { Bus } from './bus.js'
import type { BusEvents } from './events.js'
import type { AnyEventObject, CallbackActorLogic, EventObject } from 'xstate'

/**
 * A bus event as an XState event object: the name in `type`, the payload spread
 * beside it (`{ type: 'peer:connected', peerId, multiaddrs }`). Machines receive
 * these from {@link fromBus} and `emit()` them for {@link forwardEmitted}.
 */
export type BusEvent<K extends keyof BusEvents = keyof BusEvents> = {
  [P in K]: { type: P } & BusEvents[P]
}[K]

/** Input of the {@link fromBus} callback actor */
export interface FromBusInput {
  bus: Bus
}

/**
 * The inbound seam between the bus and a machine: a callback actor that turns
 * every bus event of the given types into a machine event of the same name, and
 * unsubscribes when the actor stops.
 *
 * @example
 * ```ts
 * const machine = setup({ actors: { bus: fromBus(['peer:connected']) } }).createMachine({
 *   invoke: { src: 'bus', input: ({ context }) => ({ bus: context.bus }) },
 *   on: { 'peer:connected': { actions: ... } }
 * })
 * ```
 */
export function fromBus<K extends keyof BusEvents> (types: readonly K[]): CallbackActorLogic<EventObject, FromBusInput> {
  return fromCallback<EventObject, FromBusInput>(({ input, sendBack }) => {
    const unsubscribers = types.map((type) => input.bus.subscribe(type, (payload) => {
      sendBack({ ...payload, type } as unknown as AnyEventObject)
    }))
    return () => { for (const off of unsubscribers) off() }
  })
}

/**
 * The outbound seam: forward every event that `actor` emits (with XState's
 * `emit()`) to the bus, in one place. Returns the unsubscribe function.
 *
 * XState calls emit handlers while the actor is still taking its transition: an
 * event sent to it then waits in its mailbox, so a bus handler that calls back
 * into the package that emitted (`catalog.query()` on `catalog:syncing`) would
 * find it not yet changed. Events go to the bus in a microtask instead, in the
 * order they were emitted, once the transition is over.
 */
export function forwardEmitted<E extends BusEvent> (actor: EmitterOf<E>, bus: Bus): () => void {
  const sub = actor.on('*', (event: E) => {
    const { type, ...payload } = event
    queueMicrotask(() => { bus.emit(type, payload as never) })
  })
  return () => { sub.unsubscribe() }
}

/** Anything that emits bus events with XState's `actor.on('*', ...)` */
export interface EmitterOf<E extends BusEvent> {
  on(type: '*', handler: (event: E) => void): { unsubscribe(): void }
}
