#!/usr/bin/env node
// The `npp` command. Needs Node >= 22.19 (`pnpm npp ...` from the repo root uses the
// project's pinned Node 24) and the compiled app (`pnpm build`).
import { run } from '../dist/cli/main.js'

const code = await run(process.argv)
// Exit explicitly: a stopped peer can leave idle timers of its libraries behind.
process.exit(code)
