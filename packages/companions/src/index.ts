/**
 * @packageDocumentation
 *
 * Companions are the peers whose catalogs we follow. This package keeps them
 * in our own `companions` KeyValue db (key: the companion's `user` db
 * address; value: its profile, last-known multiaddrs, first and last seen),
 * fed by discovery's `companion:discovered`. Each companion is a child actor
 * (`companion-<cid>`) in `online`, `offline` or `reconnecting`: it goes
 * offline the moment libp2p reports the peer disconnected (no polling), is
 * redialled from its last-known addresses with exponential backoff and
 * jitter (1 s doubling up to 30 s by default), and is online again the
 * moment it connects, whoever dialled. After a restart every stored
 * companion is loaded and dialled at once.
 *
 * What a peer says about itself is not trusted: discovered profiles are
 * checked again, at most one record is kept per peer (a newer `user` db of
 * the same peer replaces the old one, with `companion:removed` for the old
 * one; this package is the one place that rule lives), and only addresses of
 * the kinds our transport dials (`/ip4|ip6/.../tcp/...[/ws]`) that end in the
 * companion's own `/p2p/<peer id>` are kept, at most 8, the ones we dialled
 * ourselves first. Redialling uses only those.
 *
 * Online and offline have one source: `companion:online` and
 * `companion:offline` from here, and `list()` shows the same status.
 *
 * @example Compose companions with transport, catalog and discovery
 *
 * ```ts
 * import { createBus } from '@npp/bus'
 * import { createCatalog } from '@npp/catalog'
 * import { createCompanions } from '@npp/companions'
 * import { createDiscovery } from '@npp/discovery'
 * import { createTransport } from '@npp/transport'
 *
 * const bus = createBus()
 * const transport = createTransport({ bus, repo: './alice' })
 * const catalog = createCatalog({ bus, transport, profile: { username: 'alice' } })
 * const companions = createCompanions({ bus, transport, backoff: { initialMs: 500, maxMs: 10_000 } })
 * const discovery = createDiscovery({ bus, transport, catalog, companions })
 * await transport.start()
 * await catalog.start()
 * await companions.start() // loads and redials the companions we had
 * await discovery.start()
 *
 * bus.on('companion:online', ({ profile }) => console.log(`${profile.username} is online`))
 * bus.on('companion:offline', ({ profile }) => console.log(`${profile.username} went offline`))
 * console.table((await companions.list()).map((c) => ({ name: c.profile.username, status: c.status })))
 * ```
 */

export { createCompanions } from './companions.js'
export type { Companions, CompanionsInit, CompanionStatus } from './companions.js'
export { companionsMachine } from './companions.machine.js'
export type { CompanionRecord } from './schema.js'
export { CompanionsError, CompanionsNotStartedError, InvalidCompanionsOptionError } from './errors.js'
