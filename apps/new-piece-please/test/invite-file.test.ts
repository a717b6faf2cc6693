import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { INVITES_FILE, inviteFile } from '../src/repo.js'
import { Cleanups, tempDir } from './helpers.js'

const cleanups = new Cleanups()
afterAll(async () => { await cleanups.run() })

describe('the invites file of a repo', () => {
  it('keeps our invites in a 0600 file, replaced whole; nothing there is no invites', async () => {
    const repo = await tempDir(cleanups, 'app-invites')
    const store = inviteFile(repo)
    expect(await store.load()).toEqual([])
    const invite = { id: 'i'.repeat(24), secret: 's'.repeat(43), expiresAt: Date.now() + 60_000, usesLeft: 1 }
    await store.save([invite])
    expect(await store.load()).toEqual([invite])
    expect((await stat(join(repo, INVITES_FILE))).mode & 0o777).toBe(0o600)
    await store.save([])
    expect(await store.load()).toEqual([])
    // not a list: no invites (discovery validates each entry of a list)
    await writeFile(join(repo, INVITES_FILE), '{"id":1}')
    expect(await store.load()).toEqual([])
  })
})
