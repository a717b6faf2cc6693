import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { NoRunningPeerError } from '../src/errors.js'
import { locatePeer, parseApiInfo, runningPeer } from '../src/repo.js'

const good = { url: 'http://127.0.0.1:4000', pid: process.pid, peerId: '12D3KooW', startedAt: 1 }
const dirs: string[] = []
afterAll(async () => { await Promise.all(dirs.map(async (dir) => { await rm(dir, { recursive: true, force: true }) })) })

async function repoWith (apiJson: string): Promise<string> {
  const repo = await mkdtemp(join(tmpdir(), 'npp-repo-test-'))
  dirs.push(repo)
  await writeFile(join(repo, 'api.json'), apiJson)
  await writeFile(join(repo, 'api.token'), 't'.repeat(43))
  return repo
}

describe('api.json', () => {
  it('accepts what a running peer writes, and names the first field that is wrong', () => {
    expect(parseApiInfo(good)).toEqual({ info: good })
    expect(parseApiInfo({ ...good, extra: true })).toEqual({ info: good })
    const cases: Array<[unknown, string]> = [
      [null, 'not a JSON object'],
      [[good], 'not a JSON object'],
      [{ ...good, url: 'ftp://127.0.0.1' }, '`url`'],
      [{ ...good, url: 'not a url' }, '`url`'],
      [{ ...good, pid: 0 }, '`pid`'],
      [{ ...good, pid: 1.5 }, '`pid`'],
      [{ ...good, peerId: 7 }, '`peerId`'],
      [{ ...good, startedAt: 'now' }, '`startedAt`']
    ]
    for (const [value, reason] of cases) {
      const parsed = parseApiInfo(value)
      expect('reason' in parsed && parsed.reason).toContain(reason)
    }
  })

  it('locatePeer says why a damaged api.json cannot be used; runningPeer ignores it', async () => {
    await expect(locatePeer(await repoWith('{"url":'))).rejects.toThrow(/api\.json cannot be used \(not JSON\)/)
    const wrong = await repoWith(JSON.stringify({ ...good, pid: -1 }))
    await expect(locatePeer(wrong)).rejects.toBeInstanceOf(NoRunningPeerError)
    await expect(locatePeer(wrong)).rejects.toThrow(/`pid` is not a positive integer/)
    expect(await runningPeer(wrong)).toBeUndefined()
    const alive = await repoWith(JSON.stringify(good))
    expect((await locatePeer(alive)).info).toEqual(good)
    expect(await runningPeer(alive)).toEqual(good)
  })
})
