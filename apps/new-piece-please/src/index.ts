/**
 * @packageDocumentation
 *
 * The reference app of New Piece, Please!: it composes `@npp/bus`,
 * `@npp/transport`, `@npp/catalog`, `@npp/discovery` and `@npp/companions` into one
 * peer driven by a root XState machine (`peer.actor`), and adds the `npp`
 * CLI, a local control API (127.0.0.1, per-repo secret token), a web dashboard
 * and a live inspector of every machine and actor.
 *
 * This is the file to copy from when you compose the packages into your own app:
 * {@link createPeer} is the whole wiring (one bus, one factory call per package,
 * started in the order transport, companions, catalog, discovery, and one
 * inspection observer); nothing reaches into a package's internals.
 *
 * @example A peer with its dashboard, in your own program
 *
 * ```ts
 * import { createPeer, ensureToken, startControlServer } from 'new-piece-please'
 *
 * const repo = './my-peer'
 * const peer = createPeer({ repo, profile: { username: 'alice' } })
 * await peer.start()
 * peer.bus.on('companion:online', ({ profile }) => { console.log(`${profile.username} is online`) })
 *
 * const token = await ensureToken(repo)
 * const server = await startControlServer({ peer, token })
 * console.log(`dashboard: ${server.url}/#token=${token}`)
 *
 * await peer.catalog.add({ hash: await peer.catalog.addScore(pdfBytes), instrument: 'violin', title: 'Csárdás' })
 * for await (const item of peer.catalog.query({ instrument: 'violin' })) console.log(item)
 *
 * await server.close()
 * await peer.stop()
 * ```
 */

// What an embedding program needs, and nothing more: a peer, its control API, a
// client of a running peer, the repo helpers those take, and the errors they throw.
// (test/exports.test.ts lists these names: a change here is a deliberate one.)
export { createPeer } from './peer.js'
export type { Peer, PeerInit, InspectObserver } from './peer.js'
export { startControlServer } from './api/server.js'
export type { ControlServer, ControlServerInit } from './api/server.js'
export { ApiClient } from './api/client.js'
export type { QueryLine } from './api/routes/query.js'
export { defaultRepo, ensureToken, rotateToken } from './repo.js'
export type { InspectionRecorder, InspectionRecord, ActorInfo } from './inspect/recorder.js'
export {
  AppError, ApiError, ComponentFailedError, ControlServerError, LoopbackOnlyError, NoRunningPeerError, PeerFailedError
} from './errors.js'
