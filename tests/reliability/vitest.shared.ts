import type { ViteUserConfig } from 'vitest/config'

/**
 * Shared by the fault and hostile configs: one test file at a time (the peers under
 * test run in child processes and need the machine's cores), long timeouts (every
 * wait inside a test has its own, shorter bound), and the compiled child script.
 */
export const shared = (include: string[]): ViteUserConfig => ({
  test: {
    include,
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    globalSetup: ['./test/global-setup.ts']
  }
})
