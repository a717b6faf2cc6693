import { defineConfig } from 'vitest/config'
import type { ViteUserConfig } from 'vitest/config'

/**
 * The vitest config of every package: tests in test/, type tests (`*.types.test.ts`,
 * with `@ts-expect-error`) checked by tsc, and timeouts fit for real peers on a
 * busy 2-core machine (they bound hangs; speed is measured by benchmarks).
 */
export function packageConfig (test: NonNullable<ViteUserConfig['test']> = {}): ViteUserConfig {
  return defineConfig({
    test: {
      include: ['test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      typecheck: { enabled: true, include: ['test/**/*.types.test.ts'], tsconfig: './tsconfig.json' },
      ...test
    }
  })
}
