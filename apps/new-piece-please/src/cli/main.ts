import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Command, CommanderError, Option } from 'commander'
import { isAlive } from '@npp/transport'
import { ApiClient } from '../api/client.js'
import { CidString, Instrument, MAX_SCORE_BYTES, MultiaddrString, ProfileField, QueryBody, reasonOf, UserDbAddress } from '../api/schemas.js'
import { EXIT, PeerStopTimeoutError, QueryFailedError, UsageError } from '../errors.js'
import { defaultRepo, locatePeer } from '../repo.js'
import { createOutput, reportError, short, table } from './output.js'
import { parseWeb } from './web-address.js'
import type { Output } from './output.js'
import type { z } from 'zod'
import type { CatalogHit, QuerySource, QuerySummary, SourceOutcome } from '@npp/bus'

/**
 * The `npp` command line. Built on commander: it is the most used and best kept
 * Node CLI library, with subcommands, `--help` generated for every command,
 * variadic and repeatable options, and an `exitOverride()` hook that lets us map
 * usage errors to our own exit code (2) instead of exiting inside the library.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or bad input, 3 no running peer.
 */

interface Common { repo?: string, json?: boolean }

function check<S extends z.ZodType> (schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value)
  if (!result.success) throw new UsageError(`${what}: ${reasonOf(result.error)}`)
  return result.data
}

function repoOf (opts: Common): string {
  return opts.repo == null ? defaultRepo() : resolve(opts.repo)
}

/** `--repo` and `--json` on every command, so each command's `--help` lists them */
function common (cmd: Command, json = true): Command {
  cmd.option('--repo <dir>', 'the peer\'s repo folder (default: $NPP_REPO or your per-user data folder)')
  if (json) cmd.option('--json', 'print JSON for scripts instead of text')
  return cmd
}

/** Run `fn` against the peer running in the repo */
async function withPeer (opts: Common, fn: (api: ApiClient, out: Output) => Promise<void>): Promise<void> {
  const out = createOutput(opts.json === true)
  const api = await ApiClient.forRepo(repoOf(opts))
  await fn(api, out)
}

interface PieceView { hash: string, instrument: string, title?: string, composer?: string, notes?: string, addedAt: number, practised: number }

function pieceLines (p: PieceView): string {
  return [
    `${p.title ?? '(untitled)'}${p.composer == null ? '' : ` — ${p.composer}`}`,
    `  instrument  ${p.instrument}`,
    `  hash        ${p.hash}`,
    `  practised   ${p.practised} time${p.practised === 1 ? '' : 's'}`,
    ...(p.notes == null || p.notes === '' ? [] : [`  notes       ${p.notes}`])
  ].join('\n')
}

function sourceName (s: QuerySource): string {
  return s.kind === 'local' ? `local (${s.username})` : `${s.username} (${short(s.peerId)})`
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

function build (exit: { code: number, foreground: boolean }): Command {
  const program = new Command('npp')
    .description('New Piece, Please! — peer-to-peer sheet-music catalogs for musicians')
    .version('0.1.0')
    .showSuggestionAfterError()
    .exitOverride()
    .configureHelp({ sortSubcommands: false })
    .addHelpText('after', '\nExit codes: 0 ok, 1 failure, 2 bad usage or input, 3 no running peer in the repo.\nSet LOG="npp:*" for debug logs and full error traces.')

  common(program.command('start'))
    .description('run a peer in the foreground with its dashboard (Ctrl-C stops it)')
    .option('--listen <multiaddr>', 'listen address, repeatable (default: 127.0.0.1 TCP and WebSockets on free ports)', collect)
    .option('--bootstrap <target...>', '"none" (default), "public" (the public IPFS bootstrap list: contacts the internet) or multiaddrs to dial')
    .option('--web <host:port>', 'dashboard and control API address, 127.0.0.1 only (default: 127.0.0.1 on a free port)')
    .addOption(new Option('--inspect [where]', 'show the machine inspector\'s URL; "stately" also sends inspection events to stately.ai').choices(['dashboard', 'stately']).preset('dashboard'))
    .action(async (opts: Common & { listen?: string[], bootstrap?: string[], web?: string, inspect?: 'dashboard' | 'stately' }) => {
      const listen = (opts.listen ?? []).map((ma) => check(MultiaddrString, ma, `--listen ${ma}`))
      let bootstrap: 'none' | 'public' | string[] | undefined
      const b = opts.bootstrap ?? []
      if (b.length === 1 && (b[0] === 'none' || b[0] === 'public')) bootstrap = b[0]
      else if (b.length > 0) bootstrap = b.map((ma) => check(MultiaddrString, ma, `--bootstrap ${ma}`))
      const web = opts.web == null ? undefined : parseWeb(opts.web)
      // loaded on demand: only `start` needs the whole peer (libp2p, Helia, OrbitDB)
      const { startPeer } = await import('./start.js')
      exit.foreground = true
      exit.code = await startPeer({
        repo: repoOf(opts),
        listen,
        ...(bootstrap == null ? {} : { bootstrap }),
        ...(web == null ? {} : { web }),
        ...(opts.inspect == null ? {} : { inspect: opts.inspect })
      }, createOutput(opts.json === true))
    })

  common(program.command('stop'))
    .description('stop the peer running in the repo')
    .action(async (opts: Common) => {
      await withPeer(opts, async (api, out) => {
        const { info } = await locatePeer(api.repo)
        const progress = out.progress('stopping the peer')
        await api.post('/api/stop')
        // wait for the process to exit (bounded): it closes its databases first
        const waitMs = 30_000
        const deadline = Date.now() + waitMs
        while (isAlive(info.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
        if (isAlive(info.pid)) {
          progress.fail()
          throw new PeerStopTimeoutError(info.pid, waitMs)
        }
        progress.done()
        out.result({ stopped: true, pid: info.pid }, () => `stopped the peer (pid ${info.pid})`)
      })
    })

  common(program.command('id'))
    .description('this peer\'s id, addresses, user db and dashboard URL')
    .action(async (opts: Common) => {
      await withPeer(opts, async (api, out) => {
        const id = await api.get<{ peerId: string, multiaddrs: string[], userDb: string, pieces: string, username?: string, dashboard?: string }>('/api/id')
        out.result(id, () => [
          `peer id    ${id.peerId}`,
          `username   ${id.username ?? ''}`,
          ...id.multiaddrs.map((m, i) => `${i === 0 ? 'addresses ' : '          '} ${m}`),
          `user db    ${id.userDb}`,
          `pieces db  ${id.pieces}`,
          `dashboard  ${id.dashboard ?? ''}`
        ].join('\n'))
      })
    })

  common(program.command('peers'))
    .description('peers we are connected to')
    .action(async (opts: Common) => {
      await withPeer(opts, async (api, out) => {
        const { peers } = await api.get<{ peers: Array<{ peerId: string, connections: string[] }> }>('/api/peers')
        out.result({ peers }, () => peers.length === 0
          ? 'no connected peers (connect one with `npp connect <multiaddr>`)'
          : table(['peer id', 'connections'], peers.map((p) => [p.peerId, p.connections.join(' ')])))
      })
    })

  common(program.command('connect'))
    .description('dial a peer; discovery and companions follow by themselves')
    .argument('<multiaddr>', 'the peer\'s address, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...')
    .action(async (multiaddr: string, opts: Common) => {
      const ma = check(MultiaddrString, multiaddr, multiaddr)
      await withPeer(opts, async (api, out) => {
        const progress = out.progress(`connecting to ${ma}`)
        try {
          const { peerId } = await api.post<{ peerId: string }>('/api/peers', { multiaddr: ma })
          progress.done()
          out.result({ peerId }, () => `connected to ${peerId}`)
        } catch (err) {
          progress.fail()
          throw err
        }
      })
    })

  const companions = common(program.command('companions'))
    .description('companions (peers whose catalogs we follow) with online status; `companions rm` removes one')
    .action(async (opts: Common) => {
      await withPeer(opts, async (api, out) => {
        const { companions: list } = await api.get<{ companions: Array<{ userDb: string, status: string, profile: { username: string, nodeId: string }, lastSeen: number }> }>('/api/companions')
        out.result({ companions: list }, () => list.length === 0
          ? 'no companions yet: connect to a peer and it becomes one'
          : table(['username', 'status', 'peer id', 'user db'], list.map((c) => [c.profile.username, c.status, short(c.profile.nodeId), c.userDb])))
      })
    })
  common(companions.command('rm'))
    .description('stop following a companion')
    .argument('<userDb>', 'the companion\'s user db address (/orbitdb/...)')
    .action(async (userDb: string, opts: Common) => {
      const address = check(UserDbAddress, userDb, userDb)
      await withPeer(opts, async (api, out) => {
        const { removed } = await api.delete<{ removed: boolean }>(`/api/companions?userDb=${encodeURIComponent(address)}`)
        out.result({ removed }, () => (removed ? `removed ${address}` : `${address} was not a companion`))
        if (!removed) exit.code = EXIT.failure
      })
    })

  const pieces = program.command('pieces').description('your catalog: add, list, get, rm')
  common(pieces.command('add'))
    .description('add a piece (or replace the one with the same hash)')
    .requiredOption('--instrument <name>', 'the instrument, e.g. violin')
    .option('--hash <cid>', 'CID of the score if it is in IPFS already')
    .option('--file <path>', 'a score file to add to IPFS (its CID becomes the hash)')
    .option('--title <title>', 'title')
    .option('--composer <name>', 'composer')
    .option('--notes <text>', 'notes')
    .action(async (opts: Common & { instrument: string, hash?: string, file?: string, title?: string, composer?: string, notes?: string }) => {
      const instrument = check(Instrument, opts.instrument, '--instrument')
      if ((opts.hash == null) === (opts.file == null)) throw new UsageError('give exactly one of --hash <cid> or --file <path>')
      const hash = opts.hash == null ? undefined : check(CidString, opts.hash, `--hash ${opts.hash}`)
      let score: string | undefined
      if (opts.file != null) {
        let bytes: Buffer
        try {
          bytes = await readFile(opts.file)
        } catch (err) {
          throw new UsageError(`--file ${opts.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
        }
        if (bytes.byteLength > MAX_SCORE_BYTES) throw new UsageError(`--file ${opts.file}: larger than ${MAX_SCORE_BYTES} bytes`)
        score = bytes.toString('base64')
      }
      await withPeer(opts, async (api, out) => {
        const { piece } = await api.post<{ piece: PieceView }>('/api/pieces', {
          instrument,
          ...(hash == null ? {} : { hash }),
          ...(score == null ? {} : { score }),
          ...(opts.title == null ? {} : { title: opts.title }),
          ...(opts.composer == null ? {} : { composer: opts.composer }),
          ...(opts.notes == null ? {} : { notes: opts.notes })
        })
        out.result({ piece }, () => `added ${piece.title ?? piece.hash} (${piece.instrument})\n  hash ${piece.hash}`)
      })
    })
  common(pieces.command('list'))
    .description('list your pieces with practice counts')
    .option('--instrument <name>', 'only this instrument (case-insensitive)')
    .action(async (opts: Common & { instrument?: string }) => {
      const instrument = opts.instrument == null ? undefined : check(Instrument, opts.instrument, '--instrument')
      await withPeer(opts, async (api, out) => {
        const { pieces: list } = await api.get<{ pieces: PieceView[] }>(`/api/pieces${instrument == null ? '' : `?instrument=${encodeURIComponent(instrument)}`}`)
        out.result({ pieces: list }, () => list.length === 0
          ? 'no pieces (add one with `npp pieces add --instrument violin --title ... --file score.pdf`)'
          : table(['title', 'composer', 'instrument', 'practised', 'hash'], list.map((p) => [p.title ?? '', p.composer ?? '', p.instrument, String(p.practised), p.hash])))
      })
    })
  common(pieces.command('get'))
    .description('show one piece')
    .argument('<hash>', 'the piece\'s CID')
    .action(async (hash: string, opts: Common) => {
      const cid = check(CidString, hash, hash)
      await withPeer(opts, async (api, out) => {
        const { piece } = await api.get<{ piece: PieceView }>(`/api/pieces/${encodeURIComponent(cid)}`)
        out.result({ piece }, () => pieceLines(piece))
      })
    })
  common(pieces.command('rm'))
    .description('remove a piece from your catalog')
    .argument('<hash>', 'the piece\'s CID')
    .action(async (hash: string, opts: Common) => {
      const cid = check(CidString, hash, hash)
      await withPeer(opts, async (api, out) => {
        const { removed } = await api.delete<{ removed: boolean }>(`/api/pieces/${encodeURIComponent(cid)}`)
        out.result({ removed }, () => (removed ? `removed ${cid}` : `no piece ${cid} in this catalog`))
        if (!removed) exit.code = EXIT.failure
      })
    })

  common(program.command('random'))
    .description('new piece, please! a random piece of your catalog')
    .option('--instrument <name>', 'of this instrument')
    .action(async (opts: Common & { instrument?: string }) => {
      const instrument = opts.instrument == null ? undefined : check(Instrument, opts.instrument, '--instrument')
      await withPeer(opts, async (api, out) => {
        const { piece } = await api.get<{ piece: PieceView }>(`/api/random${instrument == null ? '' : `?instrument=${encodeURIComponent(instrument)}`}`)
        out.result({ piece }, () => pieceLines(piece))
      })
    })

  common(program.command('practise'))
    .alias('practice')
    .description('count one practice session of a piece')
    .argument('<hash>', 'the piece\'s CID')
    .action(async (hash: string, opts: Common) => {
      const cid = check(CidString, hash, hash)
      await withPeer(opts, async (api, out) => {
        const result = await api.post<{ hash: string, practised: number }>(`/api/pieces/${encodeURIComponent(cid)}/practise`)
        out.result(result, () => `practised ${result.practised} time${result.practised === 1 ? '' : 's'}`)
      })
    })

  const profile = program.command('profile').description('your profile (the fields of your user db)')
  common(profile.command('get'))
    .description('show every field, or one')
    .argument('[field]', 'a field name')
    .action(async (field: string | undefined, opts: Common) => {
      const name = field == null ? undefined : check(ProfileField, field, field)
      await withPeer(opts, async (api, out) => {
        if (name == null) {
          const { profile: all } = await api.get<{ profile: Record<string, unknown> }>('/api/profile')
          out.result({ profile: all }, () => Object.entries(all).map(([k, v]) => `${k.padEnd(10)} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n'))
        } else {
          const { value } = await api.get<{ value: unknown }>(`/api/profile/${encodeURIComponent(name)}`)
          out.result({ field: name, value }, () => (typeof value === 'string' ? value : JSON.stringify(value)))
        }
      })
    })
  common(profile.command('set'))
    .description('set a field (the value is text; `pieces` and `nodeId` are protected)')
    .argument('<field>', 'a field name')
    .argument('<value>', 'its value')
    .action(async (field: string, value: string, opts: Common) => {
      const name = check(ProfileField, field, field)
      await withPeer(opts, async (api, out) => {
        await api.put(`/api/profile/${encodeURIComponent(name)}`, { value })
        out.result({ field: name, value }, () => `${name} = ${value}`)
      })
    })
  common(profile.command('rm'))
    .description('delete a field')
    .argument('<field>', 'a field name')
    .action(async (field: string, opts: Common) => {
      const name = check(ProfileField, field, field)
      await withPeer(opts, async (api, out) => {
        await api.delete(`/api/profile/${encodeURIComponent(name)}`)
        out.result({ field: name, removed: true }, () => `removed ${name}`)
      })
    })

  common(program.command('query'))
    .description('ask your catalog and every companion\'s; results print as they arrive (with --json: one JSON line each)')
    .option('--instrument <name>', 'only this instrument (case-insensitive)')
    .option('--text <text>', 'only pieces whose title, composer or notes contain this')
    .option('--timeout <ms>', 'give up on sources that have not answered after this long', (v) => Number(v))
    .option('--limit <n>', 'at most this many pieces', (v) => Number(v))
    .action(async (opts: Common & { instrument?: string, text?: string, timeout?: number, limit?: number }) => {
      const query = check(QueryBody, {
        ...(opts.instrument == null ? {} : { instrument: opts.instrument }),
        ...(opts.text == null ? {} : { text: opts.text }),
        ...(opts.timeout == null ? {} : { timeoutMs: opts.timeout }),
        ...(opts.limit == null ? {} : { limit: opts.limit })
      }, 'query')
      await withPeer(opts, async (api, out) => {
        type Line =
          | { type: 'batch', queryId: string, source: QuerySource, hits: CatalogHit[] }
          | { type: 'done', queryId: string, summary: QuerySummary, hits: CatalogHit[], sources?: SourceOutcome[] }
          | { type: 'error', error: { name: string, message: string } }
        const progress = out.progress('asking every catalog')
        for await (const line of api.lines<Line>('/api/query', query)) {
          if (line.type === 'error') {
            progress.fail()
            throw new QueryFailedError(line.error.name, line.error.message)
          }
          if (out.json) {
            console.log(JSON.stringify(line))
            continue
          }
          progress.fail() // clear the spinner line before printing
          if (line.type === 'batch') {
            console.log(`${sourceName(line.source)}: ${line.hits.length} piece${line.hits.length === 1 ? '' : 's'}`)
            for (const h of line.hits) console.log(`  ${h.title ?? '(untitled)'}${h.composer == null ? '' : ` — ${h.composer}`} [${h.instrument}] ${h.hash}`)
          } else {
            const s = line.summary
            console.log(`\n${s.total} distinct piece${s.total === 1 ? '' : 's'} from ${s.answered} source${s.answered === 1 ? '' : 's'} (${s.timedOut} timed out, ${s.failed} failed)`)
            for (const h of line.hits) console.log(`  ${h.title ?? '(untitled)'} [${h.instrument}] from ${h.sources.map(sourceName).join(', ')}`)
            for (const o of line.sources ?? []) {
              if (o.status !== 'answered') console.log(`  ${sourceName(o.source)}: ${o.status}${o.reason == null ? '' : ` (${o.reason})`}`)
            }
          }
        }
      })
    })

  program.command('machines')
    .description('print the statechart of every package machine, derived from the definitions (no running peer needed)')
    .addOption(new Option('--format <format>', 'mermaid (stateDiagram-v2) or json').choices(['mermaid', 'json']).default('mermaid'))
    .option('--json', 'same as --format json')
    .action(async (opts: { format: 'mermaid' | 'json', json?: boolean }) => {
      // loaded on demand: the other commands need not load every package
      const { machineViews } = await import('../api/server.js')
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
      const { runDemo } = await import('./demo.js')
      exit.code = await runDemo({ json: opts.json === true })
    })

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
  const exit = { code: EXIT.ok as number, foreground: false }
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
