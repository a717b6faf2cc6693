/**
 * @packageDocumentation
 *
 * The reference app of New Piece, Please!: it composes `@npp/bus`,
 * `@npp/transport`, `@npp/catalog`, `@npp/discovery` and `@npp/companions` into one
 * peer driven by a root XState machine ({@link appMachine}), and adds the `npp`
 * CLI, a local control API (127.0.0.1, per-repo secret token), a web dashboard
 * and a live inspector of every machine and actor.
 *
 * This is the file to copy from when you compose the packages into your own app:
 * {@link createPeer} is the whole wiring (one bus, one factory call per package,
 * one inspection observer), nothing reaches into a package's internals.
 *
 * @example A peer with its dashboard, in your own program
 *
 * ```ts
 * import { createPeer, ensureToken, startControlServer } from 'new-piece-please'
 *
 * const repo = './my-peer'
 * const peer = createPeer({ repo })
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

export { createPeer, allMachines, PACKAGE_MACHINES, PeerFailedError } from './peer.js'
export type { Peer, PeerInit, InspectObserver } from './peer.js'
export { appMachine, COMPONENTS, stateString } from './machine.js'
export type { AppMachineContext, AppMachineEvent, AppMachineInput, Component, ComponentName, Components } from './machine.js'
export { createApi, startControlServer, machineViews, HttpError } from './api/server.js'
export type { ApiOptions, ControlServer, ControlServerInit, MachineView } from './api/server.js'
export { ApiClient } from './api/client.js'
export { InspectionRecorder, summarize } from './inspect/recorder.js'
export type { ActorInfo, InspectionRecord } from './inspect/recorder.js'
export { machineGraph, collectMachines, toMermaid, mermaidIds, activeStateIds, isMachine } from './inspect/graph.js'
export type { MachineGraph, StateGraphNode, StateGraphEdge, MermaidOptions } from './inspect/graph.js'
export { defaultRepo, ensureToken, locatePeer, runningPeer } from './repo.js'
export type { ApiInfo } from './repo.js'
export * from './errors.js'
