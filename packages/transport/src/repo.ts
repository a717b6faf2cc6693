import { chmod, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { RepoLockedError } from './errors.js'
import { isAlive } from './pid.js'
import type { PrivateKey } from '@libp2p/interface'

/** The folders and files of one peer's repo */
export interface RepoPaths {
  root: string
  blocks: string
  datastore: string
  orbitdb: string
  key: string
  lock: string
}

export function repoPaths (repo: string): RepoPaths {
  const root = resolve(repo)
  return {
    root,
    blocks: join(root, 'blocks'),
    datastore: join(root, 'datastore'),
    orbitdb: join(root, 'orbitdb'),
    key: join(root, 'peer.key'),
    lock: join(root, 'repo.lock')
  }
}

/**
 * Take the repo's lock file, holding our pid. A lock left by a process that no
 * longer exists (killed with SIGKILL, power loss) is taken over; a live one is a
 * {@link RepoLockedError}. We compare pids instead of file ages (as lock-file
 * libraries do) because a peer restarted right after a crash must not wait for
 * a stale period, and both processes always run on the same machine.
 */
export async function lockRepo (paths: RepoPaths): Promise<() => Promise<void>> {
  await mkdir(paths.root, { recursive: true, mode: 0o700 })
  // Only we may look inside: the repo holds our signing keys (orbitdb/keystore) and
  // peer key. Set on every start, so that repos created before (or with umask 022) are too.
  await chmod(paths.root, 0o700)
  // Write our pid to a file of our own, then hard-link it to the lock's name:
  // link() is atomic and fails if the lock exists, so nobody ever sees a lock
  // without its pid.
  const mine = `${paths.lock}.${process.pid}.${Math.random().toString(36).slice(2)}`
  await writeFile(mine, String(process.pid), { mode: 0o600 })
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(mine, paths.lock)
        return async () => { await rm(paths.lock, { force: true }) }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        const pid = Number.parseInt(await readFile(paths.lock, 'utf8').catch(() => ''), 10)
        if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || isAlive(pid))) {
          throw new RepoLockedError(paths.root, pid)
        }
        // left by a process that is gone (or unreadable garbage): take it over
        await rm(paths.lock, { force: true })
      }
    }
    throw new RepoLockedError(paths.root, -1)
  } finally {
    await rm(mine, { force: true })
  }
}

/** Load the peer's private key from the repo, creating it (mode 0600) on first start */
export async function loadOrCreatePeerKey (paths: RepoPaths): Promise<PrivateKey> {
  try {
    return privateKeyFromProtobuf(await readFile(paths.key))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = await generateKeyPair('Ed25519')
  await writeFile(paths.key, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  await chmod(paths.key, 0o600)
  return key
}
