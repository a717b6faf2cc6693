import { defineConfig } from 'vitest/config'
import { shared } from './vitest.shared.js'

// `pnpm test` here (and turbo's test task): both suites, faults first
export default defineConfig(shared(['test/faults.test.ts', 'test/netns.test.ts', 'test/hostile.test.ts', 'test/hostile-consent.test.ts', 'test/stock-orbitdb.test.ts']))
