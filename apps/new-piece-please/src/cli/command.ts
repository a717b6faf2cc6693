import { resolve } from 'node:path'
import { ApiClient } from '../api/client.js'
import { UsageError, reasonOf } from '../errors.js'
import { defaultRepo } from '../repo.js'
import { createOutput } from './output.js'
import type { Output } from './output.js'
import type * as Schemas from '../api/schemas.js'
import type { Command } from 'commander'
import type { z } from 'zod'

/** What every command of `npp` shares: its options, its exit code, the helpers that reach the peer */

/** The options of every command */
export interface Common { repo?: string, json?: boolean }

/**
 * How a run ends: the exit code a command sets (a command that did not do what
 * was asked without an error, like `pieces rm` of a missing piece, sets 1), and
 * whether the command ran a peer in the foreground (`npp start`)
 */
export interface Exit { code: number, foreground: boolean }

/**
 * The control API's schemas, loaded by the commands that check their input (zod, the
 * catalog's and the transport's schemas: ~15 MB and ~100 ms that `npp id` does without)
 */
export async function schemas (): Promise<typeof Schemas> {
  return await import('../api/schemas.js')
}

/** `value` checked with `schema`; a {@link UsageError} (exit 2) that starts with `what` otherwise */
export function check<S extends z.ZodType> (schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value)
  if (!result.success) throw new UsageError(`${what}: ${reasonOf(result.error)}`)
  return result.data
}

/** The repo folder of a command: `--repo`, else `$NPP_REPO`, else the per-user data folder */
export function repoOf (opts: Common): string {
  return opts.repo == null ? defaultRepo() : resolve(opts.repo)
}

/** `--repo` and `--json` on every command, so each command's `--help` lists them */
export function common (cmd: Command, json = true): Command {
  cmd.option('--repo <dir>', 'the peer\'s repo folder (default: $NPP_REPO or your per-user data folder)')
  if (json) cmd.option('--json', 'print JSON for scripts instead of text')
  return cmd
}

/** Run `fn` against the peer running in the repo (a `NoRunningPeerError`, exit 3, if there is none) */
export async function withPeer (opts: Common, fn: (api: ApiClient, out: Output) => Promise<void>): Promise<void> {
  const out = createOutput(opts.json === true)
  const api = await ApiClient.forRepo(repoOf(opts))
  await fn(api, out)
}

/** A query-string parameter, or nothing */
export function queryString (name: string, value: string | undefined): string {
  return value == null ? '' : `?${name}=${encodeURIComponent(value)}`
}
