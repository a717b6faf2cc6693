import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/**
 * The CLI tests run `bin/npp.js`, which loads the compiled app from `dist/`: compile
 * it first (incremental, so a second run costs little) so that no test runs stale code.
 */
export default function setup (): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: 'inherit'
  })
}
