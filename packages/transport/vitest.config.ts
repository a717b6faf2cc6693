import { packageConfig } from '../../vitest.shared.js'

// Each test file in a fresh module graph: the OrbitDB console filter (console-filter.ts)
// wraps `console.error` once per process, and diagnostics.test.ts counts what it sees
export default packageConfig({ isolate: true })
