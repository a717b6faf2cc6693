/**
 * @packageDocumentation
 *
 * Peers of New Piece, Please! find each other's catalogs here. When a peer
 * connects, discovery announces our `user` db to it
 * (`{ type: 'npp/announce', v: 1, userDb }` on the peer's topic, sent as soon
 * as the peer is subscribed: no sleeps). When a peer announces its own, the
 * announced db is checked (its manifest says KeyValue, before anything is
 * opened), opened, replicated until the announcing peer's heads have joined
 * (event-driven, bounded by `replicationTimeoutMs`) and validated with zod:
 * `username`, a `pieces` address whose manifest says Documents, and a
 * `nodeId` equal to the peer that signed the announcement. Then it emits
 * `companion:discovered`; otherwise `discovery:rejected` with a stable
 * `reason` (see {@link RejectionReason}) and the db is closed again. Floods
 * are bounded: a per-peer rate limit, `maxConcurrent` validations and a
 * queue of `maxQueued`.
 *
 * Discovery owns our `user` db: every start makes sure it has `username`
 * (a random fixture name unless one is set; never overwritten), `pieces`
 * (the address of our `pieces` db) and `nodeId` (our peer id), each field
 * on its own. Validated companions' dbs stay open, one per peer (a newer db
 * of the same peer replaces the older). A companion the user removed
 * (`companion:removed`) is closed and remembered in our own
 * `removed-companions` db, so it is not discovered again by itself, also
 * after a restart; `discovery.readmit(userDbOrPeerId)` accepts it again.
 *
 * The lifecycle is {@link discoveryMachine}; each connected peer is a child
 * actor `peer-<peer id>` and each announced db under validation a child
 * `db-<cid>`, so an inspector shows them.
 *
 * @example Compose discovery into an app (keep companions with `@npp/companions`)
 *
 * ```ts
 * import { createBus } from '@npp/bus'
 * import { createTransport } from '@npp/transport'
 * import { createDiscovery } from '@npp/discovery'
 *
 * const bus = createBus()
 * const transport = createTransport({ bus, repo: './alice' })
 * const discovery = createDiscovery({ bus, transport, profile: { username: 'alice' } })
 * await transport.start()
 * await discovery.start()
 *
 * bus.on('companion:discovered', ({ profile }) => console.log(`${profile.username} keeps pieces at ${profile.pieces}`))
 * bus.on('discovery:rejected', ({ from, reason, detail }) => console.warn(from, reason, detail))
 * await transport.connect('/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...')
 *
 * // a companion removed earlier (its announcements are rejected as 'removed'): take it back
 * await discovery.readmit('12D3KooW...')
 * ```
 */

export { createDiscovery } from './discovery.js'
export type { Discovery, DiscoveryInit } from './discovery.js'
export {
  discoveryMachine, peerMachine, announcementMachine, peerActorId, announcementActorId, announceRetryDelay, MAX_EARLY, REMOVED_STORE_ID, CLOSER_ID
} from './machine.js'
export type {
  DiscoveryContext, DiscoveryEvent, DiscoveryEmitted, DiscoveryInput, DiscoveryOptions, RateLimit, AnnounceRetry,
  PeerContext, PeerEvent, PeerInput, AnnouncementContext, AnnouncementInput, AnnouncementReport, ChildEmit
} from './machine.js'
export { AnnouncementSchema, ProfileSchema, OrbitDBAddressSchema, TombstoneSchema, ANNOUNCE_TYPE } from './schema.js'
export type { Announcement, RejectionReason, Tombstone } from './schema.js'
export { randomUsername, ensureProfile, profileRecord, validateProfile, REMOVED_DB } from './actors.js'
export type {
  Verdict, ValidateOutput, OpenOwnInput, OpenOwnOutput, AnnounceInput, ManifestInput, OpenInput, ReplicateInput, ValidateInput,
  RemovedCommand, RemovedWritten, PeersListed, CloseCommand
} from './actors.js'
export * from './errors.js'
