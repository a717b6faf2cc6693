import { afterEach, describe, expect, it, vi } from 'vitest'
import { createOutput, jsonLine, terminalSafe } from '../src/cli/output.js'

afterEach(() => { vi.restoreAllMocks() })

describe('terminal output of remote text', () => {
  it('drops C0/C1 controls, DEL and bidi overrides, keeps newlines, tabs and ordinary text', () => {
    const hostile = 'mal\u001b]0;pwned\u0007lory\u001b[2J \u202eevil\u202c \u009b31m\u007f\tok\nnext é 🎻'
    expect(terminalSafe(hostile)).toBe('mal]0;pwnedlory[2J evil 31m\tok\nnext é 🎻')
  })

  it('every text result passes through it; JSON results stay data (escaped by JSON)', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    createOutput(false).result({}, () => 'user \u001b[31mred\u001b[0m')
    createOutput(true).result({ username: '\u001b[31m' }, () => '')
    expect(log.mock.calls).toEqual([['user [31mred[0m'], ['{"username":"\\u001b[31m"}']])
  })

  it('JSON lines escape what JSON.stringify leaves raw (DEL, C1, bidi) and parse back to the same value', () => {
    const value = { username: 'mal\u009b31m\u202eevil\u007f\u001b]0;x\u0007', n: 1, nested: ['\u2066é\u2069'] }
    const line = jsonLine(value)
    expect(line).toBe('{"username":"mal\\u009b31m\\u202eevil\\u007f\\u001b]0;x\\u0007","n":1,"nested":["\\u2066é\\u2069"]}')
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/)
    expect(JSON.parse(line)).toEqual(value)
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    createOutput(true).result(value, () => '')
    expect(log.mock.calls).toEqual([[line]])
  })
})
