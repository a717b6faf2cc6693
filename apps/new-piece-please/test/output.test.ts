import { afterEach, describe, expect, it, vi } from 'vitest'
import { createOutput, terminalSafe } from '../src/cli/output.js'

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
})
