import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** companions.mjs in a child process, driven with JSON lines */
export class Companions {
  constructor (count, base, tag = 'c') {
    const script = fileURLToPath(new URL('./companions.mjs', import.meta.url))
    this.events = []
    this.waiters = []
    this.child = spawn(process.execPath, [script, String(count), base, tag], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.exited = new Promise((resolve) => { this.child.on('exit', resolve) })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let event
      try { event = JSON.parse(line) } catch { process.stderr.write(line + '\n'); return }
      if (event.event === 'error') process.stderr.write(`companions: ${event.name}: ${event.message}\n`)
      this.events.push(event)
      for (const w of [...this.waiters]) if (w.type === event.event) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(event) }
    })
  }

  async next (type, timeoutMs = 600_000) {
    const seen = this.events.findIndex((e) => e.event === type)
    if (seen >= 0) return this.events.splice(seen, 1)[0]
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`companions did not report "${type}" within ${timeoutMs} ms`)), timeoutMs)
      this.waiters.push({ type, resolve: (e) => { clearTimeout(timer); this.events.splice(this.events.indexOf(e), 1); resolve(e) } })
    })
  }

  command (cmd) { this.child.stdin.write(JSON.stringify(cmd) + '\n') }

  async stop () {
    if (this.child.exitCode != null) return
    this.command({ cmd: 'stop' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Nearest-rank percentile of a list of numbers */
export function percentile (values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]
}

export const round = (ms) => Math.round(ms * 100) / 100
