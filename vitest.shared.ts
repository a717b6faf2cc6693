import { defineConfig } from 'vitest/config'
import type { ViteUserConfig } from 'vitest/config'

/**
 * The vitest config of every package: tests in test/, and timeouts fit for real peers
 * on a busy 2-core machine (they bound hangs; speed is measured by benchmarks). Type
 * tests (`*.types.test.ts`, `expectTypeOf` and `@ts-expect-error`) are checked by each
 * package's `typecheck` task (tsc over src and test), once, not again by vitest.
 * Test files share their worker's modules (`isolate: false`): each file importing
 * libp2p, Helia and OrbitDB afresh cost 1-2 s of CPU (the catalog's tests: 25 core-s
 * with isolation, 9 without). A test that patches a global restores it itself.
 */
export function packageConfig (test: NonNullable<ViteUserConfig['test']> = {}): ViteUserConfig {
  return defineConfig({
    test: {
      include: ['test/**/*.test.ts'],
      exclude: ['test/**/*.types.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      isolate: false,
      ...test
    }
  })
}
