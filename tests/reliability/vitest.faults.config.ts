import { defineConfig } from 'vitest/config'
import { shared } from './vitest.shared.js'

export default defineConfig(shared(['test/faults.test.ts', 'test/netns.test.ts']))
