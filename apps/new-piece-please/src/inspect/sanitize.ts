/**
 * What may leave this machine when inspection events go to Stately's hosted
 * inspector (`npp start --inspect stately`): machine contexts and events hold
 * the libp2p node (with our private key), OrbitDB, open dbs and invite secrets.
 * Only plain values pass: strings (bounded), numbers, booleans and null; a
 * collection becomes its size; anything whose key names a secret is dropped.
 */
import type { AnyEventObject, MachineContext } from 'xstate'

const SECRET = /key|secret|token|invite|proof|mac|password|identity/i
const MAX_STRING = 200

function safeValue (value: unknown): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value
  if (Array.isArray(value)) return { size: value.length }
  if (value instanceof Map || value instanceof Set) return { size: value.size }
  // objects (records of peers, dbs, the libp2p node ...) are summarised, never walked
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return { size: Object.keys(value as object).length }
  return undefined
}

function safeFields (fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET.test(k)) continue
    const safe = safeValue(v)
    if (safe !== undefined) out[k] = safe
  }
  return out
}

/** A context fit for a third party: see the module's documentation */
export const safeContext = (context: MachineContext): MachineContext => safeFields(context)

/** An event fit for a third party: its `type` and its plain fields */
export const safeEvent = (event: AnyEventObject): AnyEventObject => ({ ...safeFields(event), type: event.type })
