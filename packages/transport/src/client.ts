/**
 * What a process that talks to a running peer needs from the transport,
 * without loading libp2p, Helia or OrbitDB (`@npp/transport/client`): the
 * schema of an OrbitDB address and whether a peer's process is alive.
 *
 * @example
 * ```ts
 * import { OrbitDBAddressSchema, isAlive } from '@npp/transport/client'
 *
 * OrbitDBAddressSchema.parse('/orbitdb/zdpu...')
 * if (!isAlive(pid)) console.log('the peer is not running')
 * ```
 *
 * @packageDocumentation
 */
export { OrbitDBAddressSchema } from './address.js'
export { isAlive } from './pid.js'
