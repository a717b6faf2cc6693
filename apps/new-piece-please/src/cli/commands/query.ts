import { QueryFailedError } from '../../errors.js'
import { check, common, schemas, withPeer } from '../command.js'
import { jsonLine, short, terminalSafe } from '../output.js'
import type { QueryLine } from '../../api/routes/query.js'
import type { Common } from '../command.js'
import type { CatalogHit, QueryEvent, QuerySource } from '@npp/catalog'
import type { Command } from 'commander'

function sourceName (s: QuerySource): string {
  return s.kind === 'local' ? `local (${s.username})` : `${s.username} (${short(s.peerId)})`
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

function hitLine (h: CatalogHit): string {
  return `  ${h.title ?? '(untitled)'}${h.composer == null ? '' : ` — ${h.composer}`} [${h.instrument}] ${h.hash}`
}

/** One query event as text for people */
function eventLines (event: QueryEvent): string[] {
  if (event.type === 'batch') return [`${sourceName(event.source)}: ${plural(event.hits.length, 'piece')}`, ...event.hits.map(hitLine)]
  const s = event.summary
  return [
    `\n${plural(s.total, 'distinct piece')} from ${plural(s.answered, 'source')} (${s.syncing > 0 ? `${s.syncing} still syncing, ` : ''}${s.timedOut} timed out, ${s.failed} failed)`,
    ...event.hits.map((h) => `  ${h.title ?? '(untitled)'} [${h.instrument}] from ${h.sources.map(sourceName).join(', ')}`),
    ...event.sources.filter((o) => o.syncing != null).map((o) => `  ${sourceName(o.source)}: answered while syncing (${o.syncing!.done} of ${o.syncing!.known} entries): ask again for more`),
    ...event.sources.filter((o) => o.status !== 'answered').map((o) => `  ${sourceName(o.source)}: ${o.status}${o.reason == null ? '' : ` (${o.reason})`}`)
  ]
}

/** `query`: ask every catalog; its lines are the catalog's own `QueryEvent`s */
export function queryCommands (program: Command): void {
  common(program.command('query'))
    .description('ask your catalog and every companion\'s; results print as they arrive (with --json: one JSON line each)')
    .option('--instrument <name>', 'only this instrument (case-insensitive)')
    .option('--text <text>', 'only pieces whose title, composer or notes contain this')
    .option('--timeout <ms>', 'give up on sources that have not answered after this long', (v) => Number(v))
    .option('--limit <n>', 'at most this many pieces', (v) => Number(v))
    .action(async (opts: Common & { instrument?: string, text?: string, timeout?: number, limit?: number }) => {
      const s = await schemas()
      const query = check(s.QueryBody, {
        ...(opts.instrument == null ? {} : { instrument: opts.instrument }),
        ...(opts.text == null ? {} : { text: opts.text }),
        ...(opts.timeout == null ? {} : { timeoutMs: opts.timeout }),
        ...(opts.limit == null ? {} : { limit: opts.limit })
      }, 'query')
      await withPeer(opts, async (api, out) => {
        const progress = out.progress('asking every catalog')
        for await (const line of api.lines<QueryLine>('/api/query', query)) {
          if (line.type === 'error') {
            progress.fail()
            throw new QueryFailedError(line.error.name, line.error.message)
          }
          // titles, composers and usernames are remote text: never raw on the terminal
          if (out.json) {
            console.log(jsonLine(line))
            continue
          }
          progress.fail() // clear the spinner line before printing
          for (const text of eventLines(line)) console.log(terminalSafe(text))
        }
      })
    })
}
