import { Option } from 'commander'
import { isAlive } from '@npp/transport/pid'
import { EXIT, PeerStopTimeoutError } from '../../errors.js'
import { locatePeer } from '../../repo.js'
import { check, common, repoOf, schemas, withPeer } from '../command.js'
import { createOutput, short, table } from '../output.js'
import { parseWeb } from '../web-address.js'
import type { Common, Exit } from '../command.js'
import type { CompanionView } from '../../api/routes/peer.js'
import type { PendingCompanion } from '@npp/discovery'
import type { Command } from 'commander'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** The peer itself: `start`, `stop`, `id`, `peers`, `connect`, `invite [revoke]`, `companions [pending|accept|decline|rm]` */
export function peerCommands (program: Command, exit: Exit): void {
  common(program.command('start'))
    .description('run a peer in the foreground with its dashboard (Ctrl-C stops it)')
    .option('--listen <multiaddr>', 'listen address, repeatable (default: 127.0.0.1 TCP and WebSockets on free ports)', collect)
    .option('--bootstrap <target...>', '"none" (default), "public" (the public IPFS bootstrap list: contacts the internet) or multiaddrs to dial')
    .option('--web <host:port>', 'dashboard and control API address, 127.0.0.1 only (default: 127.0.0.1 on a free port)')
    .addOption(new Option('--accept <policy>', 'who becomes a companion: "consent" (peers you dial or invite; others wait in `npp companions pending`), "all" (every valid peer) or "none"').choices(['consent', 'all', 'none']).default('consent'))
    .addOption(new Option('--inspect [where]', 'show the machine inspector\'s URL; "stately" also sends inspection events to stately.ai').choices(['dashboard', 'stately']).preset('dashboard'))
    .action(async (opts: Common & { listen?: string[], bootstrap?: string[], web?: string, inspect?: 'dashboard' | 'stately', accept: 'consent' | 'all' | 'none' }) => {
      const s = await schemas()
      const listen = (opts.listen ?? []).map((ma) => check(s.MultiaddrString, ma, `--listen ${ma}`))
      let bootstrap: 'none' | 'public' | string[] | undefined
      const b = opts.bootstrap ?? []
      if (b.length === 1 && (b[0] === 'none' || b[0] === 'public')) bootstrap = b[0]
      else if (b.length > 0) bootstrap = b.map((ma) => check(s.MultiaddrString, ma, `--bootstrap ${ma}`))
      const web = opts.web == null ? undefined : parseWeb(opts.web)
      // loaded on demand: only `start` needs the whole peer (libp2p, Helia, OrbitDB)
      const { startPeer } = await import('../start.js')
      exit.foreground = true
      exit.code = await startPeer({
        repo: repoOf(opts),
        listen,
        ...(bootstrap == null ? {} : { bootstrap }),
        ...(web == null ? {} : { web }),
        ...(opts.inspect == null ? {} : { inspect: opts.inspect }),
        accept: opts.accept
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
    .description('dial a peer by address or by its invite; it becomes a companion (with an invite, on both sides)')
    .argument('<multiaddr|invite>', 'the peer\'s address (/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...) or an invite it gave you (npp-invite:...)')
    .action(async (target: string, opts: Common) => {
      const s = await schemas()
      const body = target.trim().startsWith('npp-invite:')
        ? { invite: check(s.InviteString, target, 'the invite') }
        : { multiaddr: check(s.MultiaddrString, target, target) }
      await withPeer(opts, async (api, out) => {
        const progress = out.progress('invite' in body ? 'connecting with the invite' : `connecting to ${body.multiaddr}`)
        try {
          const { peerId } = await api.post<{ peerId: string }>('/api/peers', body)
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
        const { companions: list } = await api.get<{ companions: CompanionView[] }>('/api/companions')
        out.result({ companions: list }, () => list.length === 0
          ? 'no companions yet: connect to a peer and it becomes one'
          : table(['username', 'status', 'catalog', 'peer id', 'user db'], list.map((c) => [c.profile.username, c.status, catalogSync(c.catalog), short(c.profile.nodeId), c.userDb])))
      })
    })
  common(companions.command('pending'))
    .description('peers that announced themselves unasked and wait for your decision')
    .action(async (_opts: Common, cmd: Command) => {
      await withPeer(cmd.optsWithGlobals<Common>(), async (api, out) => {
        const { pending } = await api.get<{ pending: PendingCompanion[] }>('/api/companions/pending')
        out.result({ pending }, () => pending.length === 0
          ? 'nobody is waiting'
          : table(['username', 'peer id', 'since', 'note'], pending.map((p) => [p.profile.username, p.peerId, new Date(p.at).toISOString(), p.inviteProblem ?? ''])))
      })
    })
  for (const [verb, done] of [['accept', 'accepted'], ['decline', 'declined']] as const) {
    common(companions.command(verb))
      .description(verb === 'accept' ? 'make a pending peer a companion' : 'refuse a pending peer (remembered; it is not asked again)')
      .argument('<peerIdOrUserDb>', 'the pending peer\'s id or user db address (see `npp companions pending`)')
      .action(async (target: string, _opts: Common, cmd: Command) => {
        const s = await schemas()
        const { target: t } = check(s.PendingTarget, { target }, target)
        await withPeer(cmd.optsWithGlobals<Common>(), async (api, out) => {
          const result = await api.post<Record<string, number>>(`/api/companions/pending/${verb}`, { target: t })
          out.result(result, () => `${done} ${t}`)
        })
      })
  }

  const invite = common(program.command('invite'))
  invite
    .description('print a one-line invite: whoever runs `npp connect <invite>` becomes a companion on both sides')
    .option('--ttl <minutes>', 'how long it is valid (default 1440: a day)', '1440')
    .option('--uses <n>', 'how many peers may use it (default 1)', '1')
    .action(async (opts: Common & { ttl: string, uses: string }) => {
      const s = await schemas()
      const { ttlMs, uses } = check(s.InviteBody, { ttlMs: Math.round(Number(opts.ttl) * 60_000), uses: Number(opts.uses) }, `--ttl ${opts.ttl} --uses ${opts.uses}`)
      await withPeer(opts, async (api, out) => {
        const created = await api.post<{ invite: string, id: string, expiresAt: number }>('/api/invites', { ttlMs, uses })
        out.result(created, () => `${created.invite}\n(valid until ${new Date(created.expiresAt).toISOString()} for ${String(uses)} peer(s); revoke: npp invite revoke ${created.id})`)
      })
    })
  common(invite.command('revoke'))
    .description('revoke an invite by its id')
    .argument('<id>', 'the invite id `npp invite` printed')
    .action(async (id: string, _opts: Common, cmd: Command) => {
      await withPeer(cmd.optsWithGlobals<Common>(), async (api, out) => {
        const { revoked } = await api.delete<{ revoked: boolean }>(`/api/invites/${encodeURIComponent(id)}`)
        out.result({ revoked }, () => (revoked ? `revoked ${id}` : `${id} is no invite of this peer (used up, expired, or from before a restart)`))
        if (!revoked) exit.code = EXIT.failure
      })
    })

  common(companions.command('rm'))
    .description('stop following a companion')
    .argument('<userDb>', 'the companion\'s user db address (/orbitdb/...)')
    .action(async (userDb: string, _opts: Common, cmd: Command) => {
      const s = await schemas()
      const address = check(s.UserDbAddress, userDb, userDb)
      // `companions` has the same options: commander gives them to the parent
      await withPeer(cmd.optsWithGlobals<Common>(), async (api, out) => {
        const { removed } = await api.delete<{ removed: boolean }>(`/api/companions?userDb=${encodeURIComponent(address)}`)
        out.result({ removed }, () => (removed ? `removed ${address}` : `${address} was not a companion`))
        if (!removed) exit.code = EXIT.failure
      })
    })
}

/** Our replica of a companion's catalog in a few words: `120 pieces`, `syncing 340/1000`, `failed` */
function catalogSync (catalog: CompanionView['catalog']): string {
  if (catalog == null) return 'not open'
  if (catalog.done < catalog.known && catalog.state !== 'overQuota') return `syncing ${catalog.done}/${catalog.known}`
  return catalog.state === 'ready' ? `${catalog.pieces} pieces` : catalog.state
}
