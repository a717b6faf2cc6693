import { isAlive } from '@npp/transport/pid'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import envPaths from 'env-paths'
import type { InviteStore } from '@npp/discovery'
import { NoRunningPeerError } from './errors.js'

/**
 * The default repo folder: `$NPP_REPO`, else the per-user data folder
 * (`$XDG_DATA_HOME/npp` or `~/.local/share/npp` on Linux, the platform's
 * equivalent elsewhere). env-paths knows every platform's convention, so we do
 * not hand-roll them.
 */
export function defaultRepo (): string {
  const fromEnv = process.env.NPP_REPO
  if (fromEnv != null && fromEnv !== '') return resolve(fromEnv)
  return envPaths('npp', { suffix: '' }).data
}

/** What a running peer writes to `<repo>/api.json` so that the CLI can find it */
export interface ApiInfo {
  /** The control API's base URL (`http://127.0.0.1:<port>`) */
  url: string
  pid: number
  peerId: string
  startedAt: number
}

/**
 * `value` if it is an {@link ApiInfo}, else why not. Checked by hand, not with the
 * control API's zod schemas: every CLI command reads this file, and zod costs a
 * client command ~16 MB and ~100 ms (bench:memory's `cli_mb`).
 */
export function parseApiInfo (value: unknown): { info: ApiInfo } | { reason: string } {
  if (typeof value !== 'object' || value == null || Array.isArray(value)) return { reason: 'not a JSON object' }
  const { url, pid, peerId, startedAt } = value as Record<string, unknown>
  if (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) return { reason: '`url` is not an http URL' }
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return { reason: '`pid` is not a positive integer' }
  if (typeof peerId !== 'string' || peerId === '') return { reason: '`peerId` is not a string' }
  if (typeof startedAt !== 'number' || !Number.isFinite(startedAt)) return { reason: '`startedAt` is not a number' }
  return { info: { url, pid, peerId, startedAt } }
}

export const API_INFO_FILE = 'api.json'
export const API_TOKEN_FILE = 'api.token'

/**
 * The repo's secret API token: read from `<repo>/api.token`, created (32 random
 * bytes, base64url) on first use. The file is always mode 0600.
 */
export async function ensureToken (repo: string): Promise<string> {
  await mkdir(repo, { recursive: true })
  const file = join(repo, API_TOKEN_FILE)
  try {
    const token = (await readFile(file, 'utf8')).trim()
    if (token.length >= 32) {
      await chmod(file, 0o600)
      return token
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const { randomBytes } = await import('node:crypto')
  const token = randomBytes(32).toString('base64url')
  await writeFile(file, token + '\n', { mode: 0o600 })
  await chmod(file, 0o600)
  return token
}

/**
 * A new API token for `<repo>/api.token` (mode 0600), replacing the old one: `npp start`
 * rotates it on every start, so a token that was printed (the dashboard URL carries it)
 * or copied stops working with the peer that showed it.
 */
export async function rotateToken (repo: string): Promise<string> {
  await mkdir(repo, { recursive: true, mode: 0o700 })
  const file = join(repo, API_TOKEN_FILE)
  const { randomBytes } = await import('node:crypto')
  const token = randomBytes(32).toString('base64url')
  // written beside it and renamed: a client never reads half a token
  const next = `${file}.${process.pid}`
  await writeFile(next, token + '\n', { mode: 0o600 })
  await chmod(next, 0o600)
  await rename(next, file)
  return token
}

export async function writeApiInfo (repo: string, info: ApiInfo): Promise<void> {
  await writeFile(join(repo, API_INFO_FILE), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 })
}

export async function removeApiInfo (repo: string, pid = process.pid): Promise<void> {
  const current = await readApiInfoFile(repo)
  if (current != null && 'info' in current && current.info.pid !== pid) return // another peer's file
  await rm(join(repo, API_INFO_FILE), { force: true })
}

/** The repo's `api.json`: missing, unreadable (with why) or what it says */
async function readApiInfoFile (repo: string): Promise<{ info: ApiInfo } | { reason: string } | undefined> {
  let text: string
  try {
    text = await readFile(join(repo, API_INFO_FILE), 'utf8')
  } catch {
    return undefined
  }
  try {
    return parseApiInfo(JSON.parse(text))
  } catch {
    return { reason: 'not JSON' }
  }
}

/** The `api.json` of a live peer in `repo`, or undefined */
export async function runningPeer (repo: string): Promise<ApiInfo | undefined> {
  const read = await readApiInfoFile(repo)
  if (read == null || !('info' in read) || !isAlive(read.info.pid)) return undefined
  return read.info
}

/** Where and how to reach the running peer of `repo`; throws {@link NoRunningPeerError} */
export async function locatePeer (repo: string): Promise<{ info: ApiInfo, token: string }> {
  try {
    await stat(repo)
  } catch {
    throw new NoRunningPeerError(repo, 'the folder does not exist')
  }
  const read = await readApiInfoFile(repo)
  if (read == null) throw new NoRunningPeerError(repo)
  if (!('info' in read)) throw new NoRunningPeerError(repo, `its ${API_INFO_FILE} cannot be used (${read.reason})`)
  const { info } = read
  if (!isAlive(info.pid)) throw new NoRunningPeerError(repo, `process ${info.pid} is gone`)
  let token: string
  try {
    token = (await readFile(join(repo, API_TOKEN_FILE), 'utf8')).trim()
  } catch {
    throw new NoRunningPeerError(repo, `cannot read ${API_TOKEN_FILE}`)
  }
  return { info, token }
}

/** The file of our invites in a repo (see {@link inviteFile}) */
export const INVITES_FILE = 'invites.json'

/**
 * Our invites kept in `<repo>/invites.json` (mode 0600, replaced atomically), so that an
 * invite given to another musician still works after a restart. Discovery validates what
 * is read and drops expired invites.
 */
export function inviteFile (repo: string): InviteStore {
  const file = join(repo, INVITES_FILE)
  return {
    async load () {
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw err
      }
      const parsed: unknown = JSON.parse(text)
      return Array.isArray(parsed) ? parsed : []
    },
    async save (invites) {
      const next = `${file}.${process.pid}`
      await writeFile(next, JSON.stringify(invites) + '\n', { mode: 0o600 })
      await chmod(next, 0o600)
      await rename(next, file)
    }
  }
}
