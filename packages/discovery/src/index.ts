/**
 * @packageDocumentation
 *
 * Peers of New Piece, Please! find each other's catalogs here. When a peer
 * connects, discovery announces our `user` db to it
 * (`{ type: 'npp/announce', v: 1, userDb }` on the peer's topic, sent as soon
 * as the peer is subscribed: no sleeps). When a peer announces its own, the
 * announced db is checked (its manifests say an owner-only KeyValue db,
 * before anything is opened), opened, replicated until a peer's heads have
 * joined (event-driven, bounded by `replicationTimeoutMs`) and validated
 * with zod: `username`, a `pieces` address whose manifest says Documents by
 * the same owner, and a `nodeId` equal to the peer that signed the
 * announcement. Then it emits `companion:discovered`; otherwise
 * `discovery:rejected` with a stable `reason` (see {@link RejectionReason})
 * and the db is closed again. What failed for load or time (a slow
 * manifest, heads that did not come in time, a full queue) is retried with
 * backoff while the sender is connected (`discovery:retrying`). Floods are
 * bounded: a per-peer rate limit, `maxConcurrent` validations and a queue
 * of `maxQueued`.
 *
 * Nobody becomes a companion without consent (`accept: 'consent'`, the
 * default): peers we dial with `discovery.connect()` and peers presenting a
 * valid invite of ours (`discovery.invite()`, bound to the sender's peer id
 * with an HMAC, so a relaying peer cannot replay it) are admitted at once;
 * any other validated peer waits in a bounded pending list
 * (`companion:pending`) until the user calls `accept()` or `decline()`.
 * `accept: 'all'` is the tutorial's behaviour; `'none'` admits nobody new.
 *
 * The `user` db we announce is the catalog's (`@npp/catalog` owns the
 * profile); discovery owns the announcements and our `removed-companions`
 * db: a companion the user removed (`companion:removed`) is closed and
 * remembered, so it is not discovered again by itself, also after a
 * restart; `discovery.readmit(userDbOrPeerId)` accepts it again.
 *
 * The lifecycle is {@link discoveryMachine}; each connected peer is a child
 * actor `peer-<peer id>` ({@link peerMachine}) and each announced db under
 * validation a child `db-<cid>` ({@link announcementMachine}), so an
 * inspector shows them.
 *
 * @example Compose discovery into an app (keep companions with `@npp/companions`)
 *
 * ```ts
 * import { createBus } from '@npp/bus'
 * import { createTransport } from '@npp/transport'
 * import { createCatalog } from '@npp/catalog'
 * import { createCompanions } from '@npp/companions'
 * import { createDiscovery } from '@npp/discovery'
 *
 * const bus = createBus()
 * const transport = createTransport({ bus, repo: './alice' })
 * const catalog = createCatalog({ bus, transport, profile: { username: 'alice' } })
 * const companions = createCompanions({ bus, transport })
 * const discovery = createDiscovery({ bus, transport, catalog, companions })
 * await transport.start()
 * await catalog.start()
 * await companions.start()
 * await discovery.start()
 *
 * bus.on('companion:discovered', ({ profile }) => console.log(`${profile.username} keeps pieces at ${profile.pieces}`))
 * bus.on('discovery:rejected', ({ from, reason, detail }) => console.warn(from, reason, detail))
 * await discovery.connect('/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...') // we dial it: we consent
 *
 * // give an invite to another musician; `discovery.connect(invite)` on their side admits both ways
 * const { invite } = discovery.invite({ ttlMs: 60 * 60 * 1000 })
 * // peers that announced themselves unasked wait for a decision
 * bus.on('companion:pending', ({ peerId, profile }) => console.log(`${profile.username} (${peerId}) asks to be a companion`))
 * for (const p of discovery.pending()) discovery.accept(p.peerId)
 *
 * // a companion removed earlier (its announcements are rejected as 'removed'): take it back
 * await discovery.readmit('12D3KooW...')
 * ```
 */

export { createDiscovery } from './discovery.js'
export type { Discovery, DiscoveryInit } from './discovery.js'
export type { AnnouncedProfile } from './discovery.actors.js'
export type { KnownCompanions } from './discovery.machine.js'
export type { AcceptPolicy, InviteStore, IssuedInvite, PendingCompanion } from './consent.js'
export type { OptionsInit as DiscoveryOptionsInit, RetryInit } from './options.js'
export { discoveryMachine } from './discovery.machine.js'
export { peerMachine } from './peer.machine.js'
export { announcementMachine } from './announcement.machine.js'
export type { DiscoveryEmitted } from './events.js'
export { AnnouncementSchema, ProfileSchema, TombstoneSchema, ANNOUNCE_TYPE } from './schema.js'
export type { Announcement, RejectionReason, Tombstone } from './schema.js'
export * from './errors.js'
