import { HttpError } from '../errors.js'
import { reasonOf } from '../errors.js'
import type { Context } from 'hono'
import type { z } from 'zod'

/** JSON with Errors as `{ name, message }` */
export function toJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message } : v))
}

/** `value` checked with `schema`; throws a 400 {@link HttpError} with the reason */
export function parse<S extends z.ZodType> (schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value)
  if (!result.success) throw new HttpError('invalid-input', 'BadRequest', reasonOf(result.error))
  return result.data
}

/** The request's JSON body (`{}` when empty); throws a 400 {@link HttpError} when it is not JSON */
export async function body (c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError('invalid-input', 'BadRequest', 'the body is not valid JSON')
  }
}
