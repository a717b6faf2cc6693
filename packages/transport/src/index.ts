/**
 * @packageDocumentation
 *
 * The lowest layer of New Piece, Please!: one IPFS peer (Helia + libp2p) with
 * OrbitDB, stored in a repo folder, that connects to other peers and talks to
 * them over per-peer pubsub topics (a peer's topic is its peer id). libp2p is
 * configured explicitly: TCP and WebSockets on 127.0.0.1, noise, yamux,
 * identify, ping and gossipsub with signed messages; bitswap is the only block
 * broker; nothing contacts the internet unless you pass `bootstrap: 'public'`.
 * Every open connection is pinged (`connectionMonitor`, default every 10 s with
 * a 15 s timeout), so a silently cut link ends in `peer:disconnected` too.
 * Owner-only dbs refuse entries whose signing key is not the claimed writer's
 * (a check OrbitDB 4.0.0 lacks; see {@link IPFSAccessController}).
 *
 * The lifecycle is the XState machine {@link transportMachine}; the factory
 * returns a `Startable` whose `actor` you can inspect. It emits
 * `transport:*`, `peer:connected`/`peer:disconnected` and `message:received`/
 * `message:rejected` on the bus. `@orbitdb/core` ships no types: this package
 * also holds the typed OrbitDB facade the other packages use.
 *
 * OrbitDB prints every remote entry it refuses with `console.error`; the
 * transport routes those calls (and only those) into the `orbitdb:console` log
 * and counts them by kind, so a peer sending forged entries cannot flood
 * stderr: see `transport.diagnostics()`.
 *
 * Set `LOG="npp:*"` (ours), `LOG="orbit*"` (OrbitDB dbs and OrbitDB's own
 * reports), `LOG="libp2p:*"` or `LOG="*"` to see debug logs on stderr.
 *
 * @example Two peers in one app exchanging a message
 *
 * ```ts
 * import { createBus } from '@npp/bus'
 * import { createTransport } from '@npp/transport'
 *
 * const bus = createBus()
 * const alice = createTransport({ bus, repo: './alice' })
 * const bob = createTransport({ bus: createBus(), repo: './bob' })
 * await alice.start(); await bob.start()
 *
 * bus.on('message:received', ({ from, payload }) => console.log(from, payload))
 * await bob.connect(alice.multiaddrs[0])
 * await bob.send(alice.peerId, { hello: 'alice' })
 * ```
 */

export { createTransport } from './transport.js'
export type { Transport, TransportInit, PeerInfo, CallOptions, ConnectOptions } from './transport.js'
export { onNotice } from './console-filter.js'
export type { TransportDiagnostics, OrbitDBNoticeKind, Notice } from './console-filter.js'
export type { TopicRejection } from './topic-validator.js'
export { transportMachine } from './transport.machine.js'
export type { TransportMachineContext, TransportMachineEvent, TransportEmitted } from './transport.machine.js'
export type { ConnectionMonitorOptions, DialPolicy, NppLibp2p, Libp2pServices } from './node.js'
export { enableLogging, nppLogger } from './logging.js'
export type { Logger } from './logging.js'
export * from './errors.js'
export { isAlive } from './pid.js'
export { OrbitDBAddressSchema } from './address.js'
export { KeyValue, Documents, Events, isValidAddress, openOwnDatabase, OWN_DATABASES } from './orbitdb.js'
export { IPFSAccessController } from './access-controller.js'
export { startSync } from './sync.js'
export { inspectDatabase } from './manifest.js'
export type { DatabaseInspection, InspectionProblem, InspectOptions } from './manifest.js'
export type {
  OrbitDB, Database, DatabaseSync, KeyValueDatabase, DocumentsDatabase, EventsDatabase, Identity, Entry, Operation,
  DatabaseEventMap, AccessController, Log, KeyValueEntry, DocumentEntry, EventsEntry, DatabaseFactory,
  AccessControllerFactory, OpenOptions
} from './orbitdb.js'
export type { Manifest } from './blocks.js'
