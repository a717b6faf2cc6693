import { Option } from 'commander'
import { isAlive } from '@npp/transport'
import { MultiaddrString, UserDbAddress } from '../../api/schemas.js'
import { EXIT, PeerStopTimeoutError } from '../../errors.js'
import { locatePeer } from '../../repo.js'
import { check, common, repoOf, withPeer } from '../command.js'
import { createOutput, short, table } from '../output.js'
import { parseWeb } from '../web-address.js'
import type { Common, Exit } from '../command.js'
import type { CompanionStatus } from '@npp/companions'
import type { Command } from 'commander'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** The peer itself: `start`, `stop`, `id`, `peers`, `connect`, `companions [rm]` */
export function peerCommands (program: Command, exit: Exit): void {
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
      const { startPeer } = await import('../start.js')
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
        const { companions: list } = await api.get<{ companions: CompanionStatus[] }>('/api/companions')
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
}
