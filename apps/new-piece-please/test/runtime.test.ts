import { afterEach, describe, expect, it, vi } from 'vitest'
import { PEER_RUNTIME, applyPeerRuntime } from '../src/runtime.js'

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never

/** Replaces process.execve with a recorder for one test */
function recordExecve (): Array<Parameters<Execve>> {
  const calls: Array<Parameters<Execve>> = []
  vi.spyOn(process as unknown as { execve: Execve }, 'execve').mockImplementation(((...args: Parameters<Execve>) => { calls.push(args) }) as Execve)
  return calls
}

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
})

describe('the peer runtime', () => {
  it('re-executes `npp start` once with the flags and tunables, keeping its arguments and the user\'s environment', () => {
    vi.stubEnv('NPP_PEER_RUNTIME', undefined)
    vi.stubEnv('NODE_OPTIONS', undefined)
    vi.stubEnv('MALLOC_ARENA_MAX', '4') // the user's own value wins
    const calls = recordExecve()
    applyPeerRuntime(['/usr/bin/node', '/x/bin/npp.js', '--json', 'start', '--repo', 'r'])
    expect(calls).toHaveLength(1)
    const [file, args, env] = calls[0]!
    expect(file).toBe(process.execPath)
    expect(args).toEqual([process.execPath, ...PEER_RUNTIME.nodeFlags, ...process.execArgv, '/x/bin/npp.js', '--json', 'start', '--repo', 'r'])
    expect(env).toMatchObject({ ...PEER_RUNTIME.env, MALLOC_ARENA_MAX: '4', NPP_PEER_RUNTIME: 'on' })
  })

  it('leaves other commands, an applied or refused runtime, and a semi-space size of the user\'s alone', () => {
    vi.stubEnv('NPP_PEER_RUNTIME', undefined)
    vi.stubEnv('NODE_OPTIONS', undefined)
    const calls = recordExecve()
    applyPeerRuntime(['node', 'npp.js', 'id'])
    applyPeerRuntime(['node', 'npp.js', '--help'])
    vi.stubEnv('NPP_PEER_RUNTIME', 'off')
    applyPeerRuntime(['node', 'npp.js', 'start'])
    vi.stubEnv('NPP_PEER_RUNTIME', undefined)
    vi.stubEnv('NODE_OPTIONS', '--max-semi-space-size=32')
    applyPeerRuntime(['node', 'npp.js', 'start'])
    expect(calls).toEqual([])
  })
})
