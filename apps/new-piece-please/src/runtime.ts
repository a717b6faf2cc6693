/**
 * How a long-running peer process (`npp start`) runs Node: a small young generation and a
 * malloc that hands freed memory back. Measured with `pnpm bench:memory` (a peer, then
 * 10,000 hostile messages): with Node's defaults the young generation grows to ~180 MB of
 * heap under a message flood and glibc keeps the freed native buffers, so RSS stayed at
 * ~325 MB; with these settings 140–200 MB, and the idle peer ~120 MB instead of ~150 MB.
 *
 * This file imports nothing, so that `bin/npp.js` can apply it before loading the stack.
 */

/** Node flags and environment of a peer process */
export interface PeerRuntime {
  /** Node flags (V8's heap sizing) */
  nodeFlags: readonly string[]
  /** Environment read once at process start (glibc's malloc tunables) */
  env: Readonly<Record<string, string>>
}

/**
 * - `--max-semi-space-size=4` (MiB): under allocation bursts V8 grows its young generation
 *   (up to 16 MiB a semi-space by default) and the process keeps those pages; 4 MiB caps it.
 * - `MALLOC_ARENA_MAX=2`: glibc makes up to 8 arenas per core for the threads that libuv,
 *   LevelDB and OpenSSL use; each keeps what it freed.
 * - `MALLOC_MMAP_THRESHOLD_=32768`: buffers of 32 KiB or more get their own mapping, given
 *   back to the OS when freed (setting it also stops glibc raising it after each free).
 * - `MALLOC_TRIM_THRESHOLD_=1048576`: the heap is trimmed once 1 MiB is free at its top.
 */
export const PEER_RUNTIME: PeerRuntime = {
  nodeFlags: ['--max-semi-space-size=4'],
  env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '32768', MALLOC_TRIM_THRESHOLD_: '1048576' }
}

/** Set in the environment of a process that runs with {@link PEER_RUNTIME}; `off` keeps Node's defaults */
export const RUNTIME_ENV = 'NPP_PEER_RUNTIME'

/**
 * Replace this process by the same command under {@link PEER_RUNTIME}, for `npp start`
 * only (short commands gain nothing), once (the new process has `NPP_PEER_RUNTIME=on`),
 * and not when the user set `NPP_PEER_RUNTIME=off`, chose a semi-space size of their own
 * (`NODE_OPTIONS` or a node flag) or runs a Node without `process.execve` (< 22.15).
 * Same pid, same stdio: whoever started `npp start` sees no difference.
 */
export function applyPeerRuntime (argv: readonly string[] = process.argv): void {
  const command = argv.slice(2).find((a) => !a.startsWith('-'))
  if (command !== 'start') return
  if (process.env[RUNTIME_ENV] != null) return
  const own = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ')
  if (own.includes('semi-space-size')) return
  const proc = process as NodeJS.Process & { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }
  if (typeof proc.execve !== 'function') return
  proc.execve(process.execPath, [process.execPath, ...PEER_RUNTIME.nodeFlags, ...process.execArgv, ...argv.slice(1)], {
    ...PEER_RUNTIME.env,
    ...process.env,
    [RUNTIME_ENV]: 'on'
  })
}
