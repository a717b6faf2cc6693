/**
 * Two network namespaces joined by one veth pair, created and removed by the
 * suite itself, so that a link between two peers can be cut and restored.
 * Addresses (10.231.7.1 and .2/30) exist only inside these namespaces; they
 * have no other interface and no route to anywhere else.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)
const PREFIX = 'npp-rel-'

async function ip (...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args)
  return stdout
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Whether this process may create namespaces (root with `ip netns`); `reason` says why not */
export async function netnsAvailable (): Promise<{ ok: true } | { ok: false, reason: string }> {
  const probe = `${PREFIX}probe-${process.pid}`
  try {
    await ip('netns', 'add', probe)
    await ip('netns', 'del', probe)
    return { ok: true }
  } catch (err) {
    return { ok: false, reason: (err as { stderr?: string }).stderr?.trim() || (err as Error).message }
  }
}

/** Remove namespaces that earlier runs of this suite left behind (their process is gone) */
export async function removeStaleNamespaces (): Promise<string[]> {
  const removed: string[] = []
  const list = await ip('netns', 'list').catch(() => '')
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const pid = Number(/-(\d+)-[ab]$/.exec(name)?.[1])
    if (name.startsWith(PREFIX) && Number.isInteger(pid) && !alive(pid)) {
      await ip('netns', 'del', name).catch(() => {})
      removed.push(name)
    }
  }
  return removed
}

export interface NetnsLink {
  /** Namespace names */
  a: string
  b: string
  /** The peers' addresses, one in each namespace */
  addressA: string
  addressB: string
  /** Take both ends of the link down: packets vanish, nobody sends FIN or RST */
  cut(): Promise<void>
  /** Bring both ends up again */
  restore(): Promise<void>
  /** Delete both namespaces (and with them the veth pair); safe to call twice */
  remove(): Promise<void>
}

/** Create two namespaces `npp-rel-<tag>-<pid>-a|b` joined by a veth pair */
export async function createLink (tag: string): Promise<NetnsLink> {
  const a = `${PREFIX}${tag}-${process.pid}-a`
  const b = `${PREFIX}${tag}-${process.pid}-b`
  const vethA = `nppa${process.pid}`.slice(0, 15)
  const vethB = `nppb${process.pid}`.slice(0, 15)
  const addressA = '10.231.7.1'
  const addressB = '10.231.7.2'
  let removed = false
  const remove = async (): Promise<void> => {
    if (removed) return
    removed = true
    await ip('netns', 'del', a).catch(() => {})
    await ip('netns', 'del', b).catch(() => {})
    // a veth still in the root namespace (setup failed half-way) goes with its peer
    await ip('link', 'del', vethA).catch(() => {})
  }
  try {
    await ip('netns', 'add', a)
    await ip('netns', 'add', b)
    await ip('link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB)
    await ip('link', 'set', vethA, 'netns', a)
    await ip('link', 'set', vethB, 'netns', b)
    await ip('-n', a, 'addr', 'add', `${addressA}/30`, 'dev', vethA)
    await ip('-n', b, 'addr', 'add', `${addressB}/30`, 'dev', vethB)
    for (const [ns, dev] of [[a, vethA], [b, vethB]] as const) {
      await ip('-n', ns, 'link', 'set', 'lo', 'up')
      await ip('-n', ns, 'link', 'set', dev, 'up')
    }
  } catch (err) {
    await remove()
    throw err
  }
  return {
    a,
    b,
    addressA,
    addressB,
    async cut () {
      await ip('-n', a, 'link', 'set', vethA, 'down')
      await ip('-n', b, 'link', 'set', vethB, 'down')
    },
    async restore () {
      await ip('-n', a, 'link', 'set', vethA, 'up')
      await ip('-n', b, 'link', 'set', vethB, 'up')
    },
    remove
  }
}
