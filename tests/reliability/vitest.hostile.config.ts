import { defineConfig } from 'vitest/config'
import { shared } from './vitest.shared.js'

export default defineConfig(shared(['test/hostile.test.ts', 'test/hostile-consent.test.ts']))
