import { Option } from 'commander'
import { common } from '../command.js'
import type { Common, Exit } from '../command.js'
import type { Command } from 'commander'

/** What needs no running peer: `machines` and `demo` */
export function toolCommands (program: Command, exit: Exit): void {
  program.command('machines')
    .description('print the statechart of every package machine, derived from the definitions (no running peer needed)')
    .addOption(new Option('--format <format>', 'mermaid (stateDiagram-v2) or json').choices(['mermaid', 'json']).default('mermaid'))
    .option('--json', 'same as --format json')
    .action(async (opts: { format: 'mermaid' | 'json', json?: boolean }) => {
      // loaded on demand: the other commands need not load every package
      const { machineViews } = await import('../../api/machines.js')
      const views = machineViews()
      if (opts.format === 'json' || opts.json === true) {
        console.log(JSON.stringify({ machines: views.map(({ id, owner, graph, mermaid }) => ({ id, owner, graph, mermaid })) }, null, 2))
        return
      }
      console.log(views.map((v) => `%% ${v.owner}: ${v.id}\n${v.mermaid}`).join('\n'))
    })

  common(program.command('demo'))
    .description('three peers in separate processes on 127.0.0.1: they connect, become companions and run a distributed query')
    .action(async (opts: Common) => {
      const { runDemo } = await import('../demo.js')
      exit.code = await runDemo({ json: opts.json === true })
    })
}
