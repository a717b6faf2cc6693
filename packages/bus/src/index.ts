/**
 * @packageDocumentation
 *
 * The typed event bus of New Piece, Please!. Every event that passes between the
 * packages (`peer:connected`, `db:announced`, `companion:online`, `catalog:changed`, ...)
 * is declared once in {@link BusEvents}, so a wrong payload does not compile.
 *
 * It also holds the two seams between the bus and a package's XState machine
 * ({@link fromBus} inbound, {@link forwardEmitted} outbound), the one
 * `start()`/`stop()` of every machine-backed `Startable` ({@link actorLifecycle})
 * and {@link toError}.
 *
 * @example Listen to companions coming online in your own app
 *
 * ```ts
 * import { createBus } from '@npp/bus'
 *
 * const bus = createBus()
 * bus.on('companion:online', ({ userDb, peerId }) => {
 *   console.log(`${peerId} (${userDb}) is online`)
 * })
 * // hand `bus` to createTransport(), createDiscovery(), ... then:
 * const { profile } = await bus.waitFor('companion:discovered', undefined, { timeoutMs: 10_000 })
 * ```
 */

export { createBus, BusTimeoutError } from './bus.js'
export type { Bus, WaitForOptions } from './bus.js'
export type { BusEvents, CompanionProfile, QuerySource, CatalogHit, QuerySummary, SourceOutcome, SyncProgress } from './events.js'
export { fromBus, forwardEmitted } from './actors.js'
export type { BusEvent, FromBusInput, EmitterOf } from './actors.js'
export { actorLifecycle } from './lifecycle.js'
export type { Lifecycle, LifecycleStates, LifecycleErrors } from './lifecycle.js'
export { toError } from './errors.js'
