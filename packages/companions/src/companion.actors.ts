/**
 * The side effects of one companion's machine (./companion.machine.ts), each an
 * XState actor: checking whether its peer is connected, dialling it, and
 * watching its addresses while it is online.
 */
import { fromCallback, fromPromise } from 'xstate'
import { companionMultiaddrs, dialPlan, mergeHosts } from './addresses.js'
import type { Logger, Transport } from '@npp/transport'

export interface CheckInput {
  transport: Transport
  peerId: string
}

/**
 * Whether the companion is connected right now, asked of the transport at the
 * moment the companion's actor decides (not a snapshot taken earlier, e.g.
 * while loading). Rejects if the transport cannot tell (e.g. a malformed
 * peer id), which the machine treats as not connected.
 */
export const checkConnection = fromPromise<boolean, CheckInput>(async ({ input }) => input.transport.isConnected(input.peerId))

export interface DialInput {
  transport: Transport
  peerId: string
  /** The companion's stored addresses (already cleaned, see `companionMultiaddrs`) */
  multiaddrs: string[]
  /** IP hosts we saw it at ourselves: its addresses elsewhere pass the dial policy (`dialPlan`) */
  hosts: string[]
  /** Per address (default 5 000 ms) */
  timeoutMs?: number
}

/** What `dial` resolves with */
export interface DialOutput {
  /** Whether the companion is connected now */
  connected: boolean
}

/**
 * Dial a companion at its stored addresses, one after the other. Resolves with
 * whether it is connected now; rejects with the last error. Only our stored
 * addresses are dialled, never the peer id alone: that would let libp2p dial
 * whatever addresses the peer told it about (identify).
 *
 * The actor's signal is deliberately not passed to libp2p: the machine leaves
 * `reconnecting` (which aborts the signal) as soon as `peer:connected`
 * arrives, and libp2p emits that before the dial resolves; aborting then
 * would tear down the very connection that just opened. An abandoned dial
 * ends by itself within `timeoutMs`; the signal only stops further attempts.
 */
export const dial = fromPromise<DialOutput, DialInput>(async ({ input, signal }) => {
  const { transport, peerId } = input
  let lastError: unknown = new Error(`no stored address to dial ${peerId}; it is back when it connects to us`)
  for (const { address, vouched } of dialPlan(input.multiaddrs, input.hosts)) {
    signal.throwIfAborted()
    if (transport.isConnected(peerId)) return { connected: true }
    try {
      await transport.connect(address, { timeoutMs: input.timeoutMs ?? 5_000, advertised: !vouched })
      return { connected: transport.isConnected(peerId) }
    } catch (err) {
      lastError = err
    }
  }
  if (transport.isConnected(peerId)) return { connected: true }
  throw lastError
})

export interface WatchAddressesInput {
  transport: Transport
  peerId: string
  log: Logger
}

/** Reported by `watchAddresses` */
export interface AddressesEvent { type: 'addresses', multiaddrs: string[], hosts: string[] }

/**
 * While a companion is online: report its addresses now and every time
 * libp2p's peer store learns new ones for it (identify), cleaned and ranked
 * by `companionMultiaddrs`: the addresses we dialled it at first, then those
 * on the hosts its connections come from, then what it only told us.
 */
export const watchAddresses = fromCallback<AddressesEvent, WatchAddressesInput>(({ input, sendBack }) => {
  const { transport, peerId, log } = input
  let stopped = false
  const libp2p = transport.libp2p
  const report = (): void => {
    const connections = libp2p.getConnections().filter((c) => c.remotePeer.toString() === peerId)
    const dialled = connections.filter((c) => c.direction === 'outbound').map((c) => c.remoteAddr.toString())
    const hosts = connections.map((c) => c.remoteAddr.getComponents()[0]?.value ?? '')
    transport.addressesOf(peerId)
      .then((announced) => {
        const multiaddrs = companionMultiaddrs(peerId, announced, { dialled, hosts })
        if (!stopped && multiaddrs.length > 0) sendBack({ type: 'addresses', multiaddrs, hosts: mergeHosts(hosts) })
      })
      .catch((err: unknown) => { log('no addresses of %s: %s', peerId, (err as Error).message) })
  }
  const onUpdate = (evt: CustomEvent<{ peer: { id: { toString(): string } } }>): void => {
    if (evt.detail.peer.id.toString() === peerId) report()
  }
  libp2p.addEventListener('peer:update', onUpdate)
  report()
  return () => {
    stopped = true
    libp2p.removeEventListener('peer:update', onUpdate)
  }
})
