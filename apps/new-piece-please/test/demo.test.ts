import { readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { describe, expect, it } from 'vitest'
import { npp } from './helpers.js'

async function demoRepos (): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith('npp-demo-'))
}

interface DemoResult {
  peers: Array<{ name: string, peerId: string, companions: Array<{ username: string, peerId: string, status: string }> }>
  query: {
    instrument: string
    hits: Array<{ title: string, instrument: string, sources: Array<{ kind: string, username: string }> }>
    summary: { answered: number, timedOut: number, failed: number, total: number }
  }
}

describe('npp demo', () => {
  it('runs three peers in separate processes that become companions and answer a query, then cleans up', async () => {
    const before = await demoRepos()
    const res = await npp(['demo', '--json'], { timeoutMs: 120_000 })
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    // one JSON object on the last line
    const result = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as DemoResult
    expect(result.peers.map((p) => p.name)).toEqual(['alice', 'bob', 'carol'])
    for (const peer of result.peers) {
      const others = result.peers.filter((p) => p !== peer)
      expect(peer.companions.map((c) => c.peerId).sort()).toEqual(others.map((p) => p.peerId).sort())
      expect(peer.companions.every((c) => c.status === 'online')).toBe(true)
    }
    expect(result.query.summary).toEqual({ answered: 3, timedOut: 0, failed: 0, syncing: 0, total: 4 })
    const byTitle = Object.fromEntries(result.query.hits.map((h) => [h.title, h.sources.map((s) => `${s.kind}:${s.username}`).sort()]))
    expect(byTitle).toEqual({
      'Partita No. 2 in D minor': ['companion:bob', 'local:alice'],
      'Méditation (Thaïs)': ['local:alice'],
      Csárdás: ['companion:bob', 'companion:carol'],
      'The Lark Ascending': ['companion:carol']
    })
    expect(result.query.hits.every((h) => h.instrument === 'violin')).toBe(true)
    // the temporary repos are gone
    expect(await demoRepos()).toEqual(before)
  })

  it('prints a readable summary without --json', async () => {
    const res = await npp(['demo'], { timeoutMs: 120_000 })
    expect(res.code).toBe(0)
    expect(res.stdout).toMatch(/every peer has the other two as online companions/)
    expect(res.stdout).toMatch(/Query "violin" from alice: 4 distinct pieces; 3 sources answered, 0 timed out, 0 failed/)
    // sources are listed in the order they answered, which is a race between bob and carol
    expect(res.stdout).toMatch(/Csárdás\s+Vittorio Monti\s+(bob, carol|carol, bob)\n/)
    expect(res.stdout).toMatch(/done: every peer stopped cleanly, temporary repos removed/)
  })
})
