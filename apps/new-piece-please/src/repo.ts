import { isAlive } from '@npp/transport/pid'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import envPaths from 'env-paths'
import type { InviteStore } from '@npp/discovery'
import { z } from 'zod'
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
export const ApiInfo = z.object({
  url: z.url(),
  pid: z.number().int().positive(),
  peerId: z.string(),
  startedAt: z.number()
})
export type ApiInfo = z.infer<typeof ApiInfo>

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
  if (current != null && current.pid !== pid) return // another peer's file
  await rm(join(repo, API_INFO_FILE), { force: true })
}

async function readApiInfoFile (repo: string): Promise<ApiInfo | undefined> {
  try {
    const parsed = ApiInfo.safeParse(JSON.parse(await readFile(join(repo, API_INFO_FILE), 'utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}


/** The `api.json` of a live peer in `repo`, or undefined */
export async function runningPeer (repo: string): Promise<ApiInfo | undefined> {
  const info = await readApiInfoFile(repo)
  if (info == null || !isAlive(info.pid)) return undefined
  return info
}

/** Where and how to reach the running peer of `repo`; throws {@link NoRunningPeerError} */
export async function locatePeer (repo: string): Promise<{ info: ApiInfo, token: string }> {
  try {
    await stat(repo)
  } catch {
    throw new NoRunningPeerError(repo, 'the folder does not exist')
  }
  const info = await readApiInfoFile(repo)
  if (info == null) throw new NoRunningPeerError(repo)
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
