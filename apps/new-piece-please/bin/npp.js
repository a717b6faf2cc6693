#!/usr/bin/env node
// The `npp` command. Needs Node >= 22.19 (`pnpm npp ...` from the repo root uses the
// project's pinned Node 24) and the compiled app (`pnpm build`).
import { applyPeerRuntime } from '../dist/runtime.js'

// `npp start` goes on in this same process under the peer's Node settings (see runtime.ts)
applyPeerRuntime()
const { runCommand } = await import('../dist/cli/main.js')

const { code, endsByItself } = await runCommand(process.argv)
if (endsByItself) {
  // `npp start` after a clean stop: everything it opened is closed, so the process
  // ends by itself (libp2p's address manager has a last 1 s debounce timer)
  process.exitCode = code
} else {
  // Short client commands (fetch may keep idle keep-alive sockets for a few seconds)
  // and a peer that failed (its libraries may still hold timers) exit explicitly.
  process.exit(code)
}
