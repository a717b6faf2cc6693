/**
 * @packageDocumentation
 *
 * The reliability harness of New Piece, Please! (private, not published):
 * real peers in their own processes ({@link ChildPeer}, driving ./child.ts over
 * JSON lines), network namespaces whose link can be cut ({@link createLink}),
 * a hostile peer built directly on libp2p and OrbitDB ({@link createHostilePeer})
 * and seeded hostile payloads ({@link hostileMessages}). The suites live in
 * test/ (`pnpm test:faults`, `pnpm test:hostile`); benchmarks/soak uses the
 * same harness.
 *
 * @example Two peers in their own processes, one killed and restarted
 *
 * ```ts
 * import { ChildPeer } from '@npp/reliability'
 *
 * const b = await ChildPeer.start({ name: 'b', repo: '/tmp/b' })
 * let a = await ChildPeer.start({ name: 'a', repo: '/tmp/a' })
 * await a.request({ cmd: 'connect', addr: b.address })
 * await b.next('companion:discovered', (e) => (e.profile as { nodeId: string }).nodeId === a.peerId)
 * await a.request({ cmd: 'add', seed: 'partita' })
 * await a.kill() // SIGKILL
 * a = await ChildPeer.start({ name: 'a', repo: '/tmp/a' })
 * await b.next('companion:online', (e) => e.peerId === a.peerId)
 * ```
 */
export { ChildPeer, CHILD_SCRIPT, count, now } from './harness.js'
export type { Ready, SpawnOptions } from './harness.js'
export { createLink, netnsAvailable, removeStaleNamespaces } from './netns.js'
export type { NetnsLink } from './netns.js'
export type { ChildEvent, Command, CommandName, DbState, MemoryStats, PeerOptions, PieceSeed } from './protocol.js'
export { allowEveryWriter, createHostilePeer, restoreAccess } from './hostile-peer.js'
export type { ForgeKind, ForgeTarget, HostilePeer, HostilePeerOptions } from './hostile-peer.js'
export { CATEGORY_COUNTS, OUTCOMES, categoryMessages, hostileMessages, missingAddresses, prng } from './payloads.js'
export type { HostileCategory, HostileMessage, PayloadContext } from './payloads.js'
