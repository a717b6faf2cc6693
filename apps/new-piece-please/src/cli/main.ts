import { Command, CommanderError } from 'commander'
import { EXIT } from '../errors.js'
import { catalogCommands } from './commands/catalog.js'
import { peerCommands } from './commands/peer.js'
import { queryCommands } from './commands/query.js'
import { toolCommands } from './commands/tools.js'
import { reportError } from './output.js'
import type { Exit } from './command.js'

/**
 * The `npp` command line. Built on commander: it is the most used and best kept
 * Node CLI library, with subcommands, `--help` generated for every command,
 * variadic and repeatable options, and an `exitOverride()` hook that lets us map
 * usage errors to our own exit code (2) instead of exiting inside the library.
 * The commands are in `commands/*.ts`, one file per group.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or bad input, 3 no running peer
 * (an error's exit code follows its `kind`: see `exitCodeOf`).
 */

function build (exit: Exit): Command {
  const program = new Command('npp')
    .description('New Piece, Please! — peer-to-peer sheet-music catalogs for musicians')
    .version('0.1.0')
    .showSuggestionAfterError()
    .exitOverride()
    .configureHelp({ sortSubcommands: false })
    .addHelpText('after', '\nExit codes: 0 ok, 1 failure, 2 bad usage or input, 3 no running peer in the repo.\nSet LOG="npp:*" for debug logs and full error traces.')
  peerCommands(program, exit)
  catalogCommands(program, exit)
  queryCommands(program)
  toolCommands(program, exit)
  return program
}

/** How a CLI run ended */
export interface RunResult {
  code: number
  /**
   * True when the process should end by itself: `npp start` after a clean
   * stop has closed everything it opened, so nothing forces its exit (a handle
   * left open would show as a process that does not end). Short client
   * commands exit explicitly (fetch may keep idle keep-alive sockets for a few
   * seconds), and so does a peer that failed.
   */
  endsByItself: boolean
}

/** Run the CLI with `argv` (as `process.argv`) */
export async function runCommand (argv: string[]): Promise<RunResult> {
  const exit: Exit = { code: EXIT.ok, foreground: false }
  const program = build(exit)
  try {
    await program.parseAsync(argv)
    return { code: exit.code, endsByItself: exit.foreground && exit.code === EXIT.ok }
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are not errors; commander already printed its message
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return { code: EXIT.ok, endsByItself: false }
      return { code: EXIT.usage, endsByItself: false }
    }
    return { code: reportError(err), endsByItself: false }
  }
}

/** Run the CLI with `argv` (as `process.argv`); resolves with the exit code */
export async function run (argv: string[]): Promise<number> {
  return (await runCommand(argv)).code
}
