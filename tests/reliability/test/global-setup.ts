import { access } from 'node:fs/promises'
import { CHILD_SCRIPT } from '../src/harness.js'

/** The peers under test run dist/child.js: fail at once, with what to do, when it is not built */
export async function setup (): Promise<void> {
  try {
    await access(CHILD_SCRIPT)
  } catch {
    throw new Error('tests/reliability/dist/child.js is missing: run `pnpm build` at the root (or `pnpm exec tsc -p tsconfig.build.json` in tests/reliability) first')
  }
}
