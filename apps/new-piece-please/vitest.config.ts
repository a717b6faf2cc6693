import { packageConfig } from '../../vitest.shared.js'

export default packageConfig({
  globalSetup: ['test/global-setup.ts'],
  // Every test file starts real peers in child processes; one file at a time keeps the
  // two shared cores from starving them.
  fileParallelism: false
})
