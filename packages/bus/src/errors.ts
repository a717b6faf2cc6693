/** Anything thrown, as an `Error` (non-errors are wrapped with their string form) */
export function toError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
