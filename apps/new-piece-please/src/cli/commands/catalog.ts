import { open, stat } from 'node:fs/promises'
import { EXIT, UsageError } from '../../errors.js'
import { check, common, queryString, schemas, withPeer } from '../command.js'
import { table } from '../output.js'
import type { Common, Exit } from '../command.js'
import type { Piece } from '@npp/catalog'
import type { Command } from 'commander'

/** A piece as the control API answers it: with its practice count */
type PieceView = Piece & { practised: number }

function pieceLines (p: PieceView): string {
  return [
    `${p.title ?? '(untitled)'}${p.composer == null ? '' : ` — ${p.composer}`}`,
    `  instrument  ${p.instrument}`,
    `  hash        ${p.hash}`,
    `  practised   ${p.practised} time${p.practised === 1 ? '' : 's'}`,
    ...(p.notes == null || p.notes === '' ? [] : [`  notes       ${p.notes}`])
  ].join('\n')
}

/** `--file`'s bytes, base64, or a {@link UsageError} that says why not */
async function scoreFile (file: string): Promise<string> {
  const fail = (err: unknown): never => {
    throw new UsageError(`--file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  // a regular file of a bounded size, checked before it is opened (opening a FIFO would block)
  // and again on what was opened; never /dev/zero or a device
  const before = await stat(file).catch(fail)
  if (!before.isFile()) throw new UsageError(`--file ${file}: not a regular file`)
  const handle = await open(file, 'r').catch(fail)
  const s = await schemas()
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new UsageError(`--file ${file}: not a regular file`)
    if (info.size > s.MAX_SCORE_BYTES) throw new UsageError(`--file ${file}: ${info.size} bytes, larger than ${s.MAX_SCORE_BYTES}`)
    const bytes = Buffer.alloc(info.size)
    const { bytesRead } = await handle.read(bytes, 0, info.size, 0)
    return bytes.subarray(0, bytesRead).toString('base64')
  } finally {
    await handle.close()
  }
}

/** The catalog and the profile: `pieces add|list|get|rm`, `random`, `practise`, `profile get|set|rm` */
export function catalogCommands (program: Command, exit: Exit): void {
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
      const s = await schemas()
      const instrument = check(s.Instrument, opts.instrument, '--instrument')
      if ((opts.hash == null) === (opts.file == null)) throw new UsageError('give exactly one of --hash <cid> or --file <path>')
      const hash = opts.hash == null ? undefined : check(s.CidString, opts.hash, `--hash ${opts.hash}`)
      const score = opts.file == null ? undefined : await scoreFile(opts.file)
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
      const s = await schemas()
      const instrument = opts.instrument == null ? undefined : check(s.Instrument, opts.instrument, '--instrument')
      await withPeer(opts, async (api, out) => {
        const { pieces: list } = await api.get<{ pieces: PieceView[] }>(`/api/pieces${queryString('instrument', instrument)}`)
        out.result({ pieces: list }, () => list.length === 0
          ? 'no pieces (add one with `npp pieces add --instrument violin --title ... --file score.pdf`)'
          : table(['title', 'composer', 'instrument', 'practised', 'hash'], list.map((p) => [p.title ?? '', p.composer ?? '', p.instrument, String(p.practised), p.hash])))
      })
    })
  common(pieces.command('get'))
    .description('show one piece')
    .argument('<hash>', 'the piece\'s CID')
    .action(async (hash: string, opts: Common) => {
      const s = await schemas()
      const cid = check(s.CidString, hash, hash)
      await withPeer(opts, async (api, out) => {
        const { piece } = await api.get<{ piece: PieceView }>(`/api/pieces/${encodeURIComponent(cid)}`)
        out.result({ piece }, () => pieceLines(piece))
      })
    })
  common(pieces.command('rm'))
    .description('remove a piece from your catalog')
    .argument('<hash>', 'the piece\'s CID')
    .action(async (hash: string, opts: Common) => {
      const s = await schemas()
      const cid = check(s.CidString, hash, hash)
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
      const s = await schemas()
      const instrument = opts.instrument == null ? undefined : check(s.Instrument, opts.instrument, '--instrument')
      await withPeer(opts, async (api, out) => {
        const { piece } = await api.get<{ piece: PieceView }>(`/api/random${queryString('instrument', instrument)}`)
        out.result({ piece }, () => pieceLines(piece))
      })
    })

  common(program.command('practise'))
    .alias('practice')
    .description('count one practice session of a piece')
    .argument('<hash>', 'the piece\'s CID')
    .action(async (hash: string, opts: Common) => {
      const s = await schemas()
      const cid = check(s.CidString, hash, hash)
      await withPeer(opts, async (api, out) => {
        const result = await api.post<{ hash: string, practised: number }>(`/api/pieces/${encodeURIComponent(cid)}/practise`)
        out.result(result, () => `practised ${result.practised} time${result.practised === 1 ? '' : 's'}`)
      })
    })

  const profile = program.command('profile').description('your profile (the fields of your user db)')
  const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v))
  common(profile.command('get'))
    .description('show every field, or one')
    .argument('[field]', 'a field name')
    .action(async (field: string | undefined, opts: Common) => {
      const s = await schemas()
      const name = field == null ? undefined : check(s.ProfileField, field, field)
      await withPeer(opts, async (api, out) => {
        if (name == null) {
          const { profile: all } = await api.get<{ profile: Record<string, unknown> }>('/api/profile')
          out.result({ profile: all }, () => Object.entries(all).map(([k, v]) => `${k.padEnd(10)} ${text(v)}`).join('\n'))
        } else {
          const { value } = await api.get<{ value: unknown }>(`/api/profile/${encodeURIComponent(name)}`)
          out.result({ field: name, value }, () => text(value))
        }
      })
    })
  common(profile.command('set'))
    .description('set a field (the value is text; `pieces` and `nodeId` are protected)')
    .argument('<field>', 'a field name')
    .argument('<value>', 'its value')
    .action(async (field: string, value: string, opts: Common) => {
      const s = await schemas()
      const name = check(s.ProfileField, field, field)
      await withPeer(opts, async (api, out) => {
        await api.put(`/api/profile/${encodeURIComponent(name)}`, { value })
        out.result({ field: name, value }, () => `${name} = ${value}`)
      })
    })
  common(profile.command('rm'))
    .description('delete a field')
    .argument('<field>', 'a field name')
    .action(async (field: string, opts: Common) => {
      const s = await schemas()
      const name = check(s.ProfileField, field, field)
      await withPeer(opts, async (api, out) => {
        await api.delete(`/api/profile/${encodeURIComponent(name)}`)
        out.result({ field: name, removed: true }, () => `removed ${name}`)
      })
    })
}
