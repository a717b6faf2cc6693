import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JsonLinesChild } from '@npp/testkit'

export type { ChildEvent } from '@npp/testkit'

/** A fresh temporary folder for a peer's repo, removed by the returned cleanup */
export async function tempRepo (name: string): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `npp-${name}-`))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** A transport running in another OS process (test/fixtures/peer-process.mjs) */
export class PeerProcess extends JsonLinesChild {
  constructor (repo: string) {
    super(fileURLToPath(new URL('./fixtures/peer-process.mjs', import.meta.url)), [repo], { name: 'peer-process' })
  }
}
