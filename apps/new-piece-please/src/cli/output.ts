import { toError } from '@npp/kit/errors'
import yoctoSpinner from 'yocto-spinner'
import { exitCodeOf } from '../errors.js'
import type { ExitCode } from '../errors.js'

/** Output of one CLI command: JSON for scripts (`--json`) or text for people */
export interface Output {
  readonly json: boolean
  /** Print a result: `value` as one JSON line with --json, else the text of `human` */
  result(value: unknown, human: () => string): void
  /** A progress indicator on stderr for slow steps (a spinner on a terminal; silent with --json or when piped) */
  progress(text: string): Progress
}

export interface Progress {
  update(text: string): void
  done(text?: string): void
  fail(): void
}

const silent: Progress = { update () {}, done () {}, fail () {} }

/**
 * C0 controls but newline and tab, DEL, C1 controls, and the bidi overrides and isolates:
 * what remote text (usernames, titles, reasons from other peers) could use to move the
 * cursor, retitle the terminal (OSC), hide text or reorder it on screen.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** Text fit for a terminal: every {@link UNSAFE} character is dropped */
export const terminalSafe = (text: string): string => text.replace(UNSAFE, '')

/**
 * One line of JSON fit for a terminal: `JSON.stringify` escapes C0 controls but leaves
 * DEL, C1 and bidi characters raw; here every {@link UNSAFE} character is escaped too
 * (`\u009b`), so the line parses to the same value and shows no control on a terminal
 */
export const jsonLine = (value: unknown): string =>
  JSON.stringify(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

export function createOutput (json: boolean): Output {
  const interactive = process.stderr.isTTY && !('CI' in process.env)
  return {
    json,
    result (value, human) {
      if (json) console.log(jsonLine(value))
      else {
        // every text result passes here: remote text never reaches the terminal raw
        const text = terminalSafe(human())
        if (text !== '') console.log(text)
      }
    },
    progress (text) {
      if (json || !interactive) return silent
      const spinner = yoctoSpinner({ text, handleSignals: false }).start()
      return {
        update (t) { spinner.text = t },
        done (t) { if (t == null) spinner.stop(); else spinner.success(t) },
        fail () { spinner.stop() }
      }
    }
  }
}

/**
 * Print an error as one line on stderr (`npp: <message>`), with the stack and
 * causes only when `LOG` is set, and return its exit code.
 */
export function reportError (err: unknown): ExitCode {
  const error = toError(err)
  // one line: a multi-line message is joined (and bounded), the stack only with LOG
  let message = error.message.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ')
  if (message === '') message = error.name
  if (message.length > 400) message = `${message.slice(0, 397)}...`
  console.error(`npp: ${terminalSafe(message)}`)
  if (process.env.LOG != null && process.env.LOG !== '') {
    console.error(error.stack)
    for (let cause = error.cause; cause != null; cause = (cause as Error).cause) {
      console.error('caused by:', cause instanceof Error ? cause.stack : cause)
    }
  }
  return exitCodeOf(err)
}

/** Shorten a peer id for tables: `12D3Koo…AbCdEf` */
export function short (id: string, keep = 6): string {
  return id.length <= keep * 2 + 3 ? id : `${id.slice(0, keep + 2)}…${id.slice(-keep)}`
}

/** A plain text table (no colours, so it pipes cleanly) */
export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
