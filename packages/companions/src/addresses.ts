import { multiaddr } from '@multiformats/multiaddr'

/** Most addresses kept (and redialled) per companion */
export const MAX_MULTIADDRS = 8

/** What we saw of a peer's connections ourselves, as opposed to what it told us (identify) */
export interface Observed {
  /** Addresses we dialled it at and that worked (remote addresses of our outbound connections) */
  dialled?: readonly string[]
  /** IP addresses its connections come from (inbound or outbound) */
  hosts?: readonly string[]
}

const HOSTS = new Set(['ip4', 'ip6'])
const TRANSPORTS = new Set(['ws', 'wss'])

/**
 * One address in the form we store and dial, or undefined: it parses as a
 * multiaddr of the kinds our transport speaks (`/ip4|ip6/<host>/tcp/<port>`,
 * optionally `/ws` or `/wss`), and ends in `/p2p/<nodeId>` (added when
 * missing; an address of another peer is dropped). No DNS names (resolving
 * them would send traffic to a resolver), relays or other protocols.
 */
export function companionMultiaddr (nodeId: string, address: unknown): string | undefined {
  if (typeof address !== 'string' || address.length > 512) return undefined
  try {
    const components = multiaddr(address).getComponents()
    const p2p = components.at(-1)?.name === 'p2p' ? components.pop() : undefined
    if (p2p != null && p2p.value !== nodeId) return undefined
    const [host, tcp, ...rest] = components
    if (host == null || !HOSTS.has(host.name) || tcp?.name !== 'tcp') return undefined
    if (rest.length > 1 || (rest[0] != null && !TRANSPORTS.has(rest[0].name))) return undefined
    const result = `${components.map((c) => c.value == null ? `/${c.name}` : `/${c.name}/${c.value}`).join('')}/p2p/${nodeId}`
    // encoding it checks every value, the peer id too (parsing alone does not)
    return multiaddr(result).bytes.length > 0 ? result : undefined
  } catch {
    return undefined
  }
}

/** Most IP hosts remembered per companion (where its connections came from) */
export const MAX_HOSTS = 16

/** The IP host of an address, if it has one */
export const hostOf = (address: string): string | undefined => {
  try {
    const first = multiaddr(address).getComponents()[0]
    return first != null && HOSTS.has(first.name) ? first.value : undefined
  } catch {
    return undefined
  }
}

/**
 * The addresses to keep for a companion: only those {@link companionMultiaddr}
 * accepts, without duplicates, at most {@link MAX_MULTIADDRS}, best first:
 * addresses we dialled it at ourselves, then those on a host its connections
 * come from, then the rest (which only the peer vouches for).
 */
export function companionMultiaddrs (nodeId: string, addresses: readonly unknown[], observed: Observed = {}): string[] {
  const dialled = (observed.dialled ?? []).map((a) => companionMultiaddr(nodeId, a)).filter((a) => a != null)
  const hosts = new Set(observed.hosts ?? [])
  const announced = addresses.map((a) => companionMultiaddr(nodeId, a)).filter((a) => a != null)
  const seenHost = announced.filter((a) => hosts.has(hostOf(a) ?? ''))
  return [...new Set([...dialled, ...seenHost, ...announced])].slice(0, MAX_MULTIADDRS)
}

/** Whether two address lists hold the same addresses, in any order */
export function sameAddresses (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const sorted = [...b].sort()
  return [...a].sort().every((v, i) => v === sorted[i])
}

/** The hosts we saw a companion at, newest first, without duplicates, at most {@link MAX_HOSTS} */
export function mergeHosts (seen: readonly string[], known: readonly unknown[] = []): string[] {
  const valid = [...seen, ...known].filter((h): h is string => typeof h === 'string' && h.length > 0 && h.length <= 64)
  return [...new Set(valid)].slice(0, MAX_HOSTS)
}

/**
 * How to redial a companion: every stored address, those on a host we saw it at
 * (`vouched`: we dialled it there, or its connections came from there) first;
 * the others only the peer vouches for, and they pass the dial policy.
 */
export function dialPlan (multiaddrs: readonly string[], hosts: readonly string[]): Array<{ address: string, vouched: boolean }> {
  const seen = new Set(hosts)
  const plan = multiaddrs.map((address) => ({ address, vouched: seen.has(hostOf(address) ?? '') }))
  return [...plan.filter((p) => p.vouched), ...plan.filter((p) => !p.vouched)]
}
