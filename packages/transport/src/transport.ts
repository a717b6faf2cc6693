import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { actorLifecycle, forwardEmitted } from '@npp/bus'
import { createActor } from 'xstate'
import { consoleCounts, installConsoleFilter } from './console-filter.js'
import { DialTimeoutError, InvalidMultiaddrError, InvalidPeerIdError, InvalidTransportOptionError, MessageTooLargeError, NotStartedError, PeerUnreachableError, SelfDialError, TransportError } from './errors.js'
import { enableLogging, nppLogger } from './logging.js'
import { MAX_MESSAGE_BYTES, publishWhenSubscribed } from './messages.js'
import { DEFAULT_CONNECTION_MONITOR, DEFAULT_LISTEN } from './node.js'
import { transportMachine } from './transport.machine.js'
import type { TransportDiagnostics } from './console-filter.js'
import type { ConnectionMonitorOptions, DialPolicy, Node, NppLibp2p } from './node.js'
import { refusedIdentities } from './access-controller.js'
import { logBlocksCounts } from './log-blocks.js'
import { exchangeRetryCounts } from './exchange-retry.js'
import type { OrbitDB } from './orbitdb.js'
import type { Helia } from '@helia/utils'
import type { PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Bus } from '@npp/bus'
import type { Actor } from 'xstate'

export interface TransportInit {
  /** The bus of this peer; the transport emits `transport:*`, `peer:*` and `message:*` on it */
  bus: Bus
  /** The peer's repo folder (created if missing); one running peer per folder */
  repo: string
  /** Listen multiaddrs (default: loopback TCP and WebSockets on free ports) */
  listen?: string[]
  /** `'none'` (default), `'public'` (the public IPFS bootstrap list; contacts the internet) or multiaddrs */
  bootstrap?: 'none' | 'public' | string[]
  /** Default timeout of `connect()` (default 10 s) */
  dialTimeoutMs?: number
  /** Default time `send()` waits for the receiver to subscribe (default 5 s) */
  sendTimeoutMs?: number
  /**
   * The id OrbitDB creates our identity from: the name of the identity's key in
   * `<repo>/orbitdb/keystore` (default: this peer's id). Two devices of one owner
   * share an identity: copy the first device's keystore folder into the second's
   * repo before its first start, and pass the first device's peer id here.
   */
  identityId?: string
  /**
   * Liveness checks of open connections (libp2p's connection monitor): every
   * connection is pinged each `pingIntervalMs`; one whose ping is not answered
   * within `pingTimeoutMs` is closed, which emits `peer:disconnected`. This is how
   * a silently cut link (no FIN/RST) is noticed, within about interval + timeout.
   * Default {@link DEFAULT_CONNECTION_MONITOR} (10 000 ms, 15 000 ms); `false` turns
   * the checks off.
   */
  connectionMonitor?: Partial<ConnectionMonitorOptions> | false
  /**
   * Which addresses libp2p may dial by itself. `'loopback'` (the default unless a
   * listen or bootstrap address reaches beyond loopback, or `bootstrap: 'public'`):
   * only 127.0.0.0/8 and ::1, plus addresses passed to `connect()`; addresses
   * other peers advertise elsewhere are never dialled. `'any'`: no restriction.
   */
  dialPolicy?: DialPolicy
}

export interface PeerInfo {
  peerId: string
  /** Addresses of our open connections to it */
  connections: string[]
}

export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

export interface ConnectOptions extends CallOptions {
  /**
   * The address was advertised by the peer (identify), not named by the user or
   * seen by us: it passes the dial policy like any address libp2p dials by
   * itself (by default loopback only), instead of being allowed as the user's
   * choice. Companions redial such addresses so.
   */
  advertised?: boolean
}

/** A running IPFS/OrbitDB peer with per-peer pubsub, owned by `transportMachine` */
export interface Transport extends Startable {
  /** The machine's actor, for inspection */
  readonly actor: Actor<typeof transportMachine>
  /** Our peer id (available once started) */
  readonly peerId: string
  /** Our listening multiaddrs, each ending in `/p2p/<peer id>` */
  readonly multiaddrs: string[]
  /** The typed OrbitDB instance */
  readonly orbitdb: OrbitDB
  /** The Helia node (block storage and bitswap) */
  readonly helia: Helia<NppLibp2p>
  /** The libp2p node, for advanced use */
  readonly libp2p: NppLibp2p
  /** True while online */
  isStarted(): boolean
  /** Connected peers */
  peers(): PeerInfo[]
  isConnected(peerId: string): boolean
  /** Dialable addresses of a peer known to the peer store (from identify), each with `/p2p/<id>` */
  addressesOf(peerId: string): Promise<string[]>
  /** Dial a peer; resolves with its peer id */
  connect(address: string, options?: ConnectOptions): Promise<{ peerId: string }>
  /** Close every connection to a peer */
  disconnect(peerId: string): Promise<void>
  /** Publish a JSON message on the receiver's topic as soon as it is subscribed to it */
  send(peerId: string, message: Record<string, unknown>, options?: CallOptions): Promise<void>
  /**
   * What OrbitDB and libp2p reported below us (refused remote entries by kind,
   * db sync errors), counted instead of printed; process-wide, available
   * whether or not the transport is online; and the dials this transport's dial
   * policy refused. See {@link TransportDiagnostics}.
   */
  diagnostics(): TransportDiagnostics
}

/** Addresses kept in `diagnostics().deniedDials.recent` */
const MAX_RECENT_DENIED = 16

function parsePeerId (input: string): PeerId {
  try {
    return peerIdFromString(input)
  } catch (err) {
    throw new InvalidPeerIdError(input, { cause: err })
  }
}

function resolveMonitor (monitor: TransportInit['connectionMonitor']): ConnectionMonitorOptions | false {
  if (monitor === false) return false
  const resolved = { ...DEFAULT_CONNECTION_MONITOR, ...monitor }
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 1) throw new InvalidTransportOptionError(`connectionMonitor.${name}`, value, 'an integer >= 1 (ms)')
  }
  return resolved
}

function isAbortError (err: unknown): boolean {
  const name = (err as { name?: string })?.name
  return name === 'AbortError' || name === 'TimeoutError'
}

/**
 * Create a transport: an IPFS (Helia + libp2p) and OrbitDB peer stored in
 * `init.repo`. Call `start()` to go online and `stop()` to close everything.
 */
export function createTransport (init: TransportInit): Transport {
  enableLogging()
  installConsoleFilter()
  const log = nppLogger('transport')
  const dialTimeoutMs = init.dialTimeoutMs ?? 10_000
  const sendTimeoutMs = init.sendTimeoutMs ?? 5_000
  const denied = { count: 0, recent: [] as string[] }
  const onDialDenied = (ma: Multiaddr): void => {
    denied.count++
    denied.recent = [ma.toString().slice(0, 256), ...denied.recent].slice(0, MAX_RECENT_DENIED)
    log('the dial policy refused to dial %s', ma.toString())
  }
  const actor = createActor(transportMachine, {
    input: {
      options: {
        repo: init.repo,
        listen: init.listen ?? DEFAULT_LISTEN,
        bootstrap: init.bootstrap ?? 'none',
        identityId: init.identityId,
        connectionMonitor: resolveMonitor(init.connectionMonitor),
        dialPolicy: init.dialPolicy,
        onDialDenied
      }
    }
  })
  forwardEmitted(actor, init.bus)
  actor.start()
  const lifecycle = actorLifecycle(actor, { running: 'online' }, {
    startFailed: (cause) => cause ?? new TransportError('The transport failed to start'),
    stopFailed: (cause) => cause ?? new TransportError('The transport failed to stop'),
    interrupted: () => new TransportError('The transport was stopped while starting')
  })

  const node = (what: string): Node => {
    const snapshot = actor.getSnapshot()
    const current = snapshot.context.node
    if (!snapshot.matches('online') || current == null) throw new NotStartedError(what)
    return current
  }

  const transport: Transport = {
    actor,
    get peerId () { return node('read the peer id').topic },
    get multiaddrs () { return node('read the multiaddrs').libp2p.getMultiaddrs().map(String) },
    get orbitdb () { return node('use OrbitDB').orbitdb },
    get helia () { return node('use Helia').helia },
    get libp2p () { return node('use libp2p').libp2p },

    isStarted () { return actor.getSnapshot().matches('online') },

    async start () {
      await lifecycle.start()
      log('started %s on %s', transport.peerId, transport.multiaddrs.join(', '))
    },

    async stop () {
      await lifecycle.stop()
      log('stopped')
    },

    peers () {
      const { libp2p } = node('list peers')
      const byPeer = new Map<string, string[]>()
      for (const conn of libp2p.getConnections()) {
        const id = conn.remotePeer.toString()
        byPeer.set(id, [...(byPeer.get(id) ?? []), conn.remoteAddr.toString()])
      }
      return [...byPeer].map(([peerId, connections]) => ({ peerId, connections }))
    },

    isConnected (peerId) {
      const { libp2p } = node('check a connection')
      return libp2p.getConnections(parsePeerId(peerId)).length > 0
    },

    async addressesOf (peerId) {
      const { libp2p } = node('look up addresses')
      const id = parsePeerId(peerId)
      const known = new Set<string>()
      try {
        const peer = await libp2p.peerStore.get(id)
        for (const { multiaddr: ma } of peer.addresses) known.add(ma.toString())
      } catch {
        // not in the peer store (yet): fall back to the connections we dialled
      }
      for (const conn of libp2p.getConnections(id)) {
        if (conn.direction === 'outbound') known.add(conn.remoteAddr.decapsulateCode(421).toString())
      }
      return [...known].map((a) => `${a}/p2p/${peerId}`)
    },

    async connect (address, options = {}) {
      const { libp2p, topic, allowDial } = node('connect')
      let ma: Multiaddr
      try {
        ma = multiaddr(address)
      } catch (err) {
        throw new InvalidMultiaddrError(address, { cause: err })
      }
      const target = ma.getComponents().find((c) => c.name === 'p2p')?.value
      if (target === topic) throw new SelfDialError(address)
      const own = new Set(libp2p.getMultiaddrs().map((m) => m.decapsulateCode(421).toString()))
      if (own.has(ma.decapsulateCode(421).toString())) throw new SelfDialError(address)
      // the user named this address (or we saw the peer there): dial it even beyond loopback
      if (options.advertised !== true) allowDial(ma)
      const timeoutMs = options.timeoutMs ?? dialTimeoutMs
      const timeout = AbortSignal.timeout(timeoutMs)
      const signal = options.signal == null ? timeout : AbortSignal.any([timeout, options.signal])
      try {
        const conn = await libp2p.dial(ma, { signal })
        return { peerId: conn.remotePeer.toString() }
      } catch (err) {
        if (options.signal?.aborted === true) throw options.signal.reason
        if (timeout.aborted || isAbortError(err)) throw new DialTimeoutError(address, timeoutMs, { cause: err })
        if ((err as Error).name === 'UnexpectedPeerError' || /dial self/i.test((err as Error).message)) throw new SelfDialError(address)
        throw new PeerUnreachableError(address, { cause: err })
      }
    },

    async disconnect (peerId) {
      const { libp2p } = node('disconnect')
      await libp2p.hangUp(parsePeerId(peerId))
    },

    async send (peerId, message, options = {}) {
      const { libp2p } = node('send')
      options.signal?.throwIfAborted()
      const receiver = parsePeerId(peerId)
      const bytes = new TextEncoder().encode(JSON.stringify(message))
      if (bytes.byteLength > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(bytes.byteLength, MAX_MESSAGE_BYTES)
      const timeoutMs = options.timeoutMs ?? sendTimeoutMs
      await publishWhenSubscribed(libp2p.services.pubsub, receiver, bytes, { timeoutMs, signal: options.signal })
      log('sent %d bytes to %s', bytes.byteLength, peerId)
    },

    diagnostics () {
      return { ...consoleCounts(), refusedIdentities: { ...refusedIdentities }, deniedDials: { count: denied.count, recent: [...denied.recent] }, logBlocks: { ...logBlocksCounts }, exchangeRetries: { ...exchangeRetryCounts } }
    }
  }
  return transport
}
