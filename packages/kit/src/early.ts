/** Most bus events a machine keeps while it is not running yet */
export const MAX_EARLY = 256

/**
 * The early-event buffer of a package machine: its bus seam lives as long as
 * the actor, so events that arrive before it runs (e.g. while it opens its
 * dbs) are kept, at most `max`, and handled in order once it runs. Returns
 * the new list (the old one is not changed); an event beyond `max` is dropped.
 */
export function keepEarly<E> (early: readonly E[], event: E, max: number = MAX_EARLY): E[] {
  return early.length < max ? [...early, event] : [...early]
}

/** `record` without `key` (a new object: machine context stays immutable) */
export function omit<V> (record: Readonly<Record<string, V>>, key: string): Record<string, V> {
  const { [key]: _omitted, ...rest } = record
  return rest
}
