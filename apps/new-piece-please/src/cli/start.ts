import { createSkyInspector } from '@statelyai/inspect'
import { startControlServer } from '../api/server.js'
import { PeerAlreadyRunningError, PeerFailedError, UsageError } from '../errors.js'
import { safeContext, safeEvent } from '../inspect/sanitize.js'
import { stateString } from '../machine.js'
import { createPeer } from '../peer.js'
import { removeApiInfo, rotateToken, runningPeer, writeApiInfo } from '../repo.js'
import { reportError } from './output.js'
import type { Output } from './output.js'
import type { InspectObserver } from '../peer.js'
import type { AcceptPolicy } from '@npp/discovery'

export interface StartOptions {
  repo: string
  listen?: string[]
  bootstrap?: 'none' | 'public' | string[]
  /** `host:port` of the dashboard and control API (127.0.0.1 only) */
  web?: { host: string, port: number }
  /** `dashboard` (print the inspector's URL) or `stately` (also send to Stately's hosted inspector) */
  inspect?: 'dashboard' | 'stately'
  /** Who becomes a companion (see `PeerInit.accept`) */
  accept?: AcceptPolicy
}

/**
 * `npp start`: run a peer in the foreground until Ctrl-C (or `npp stop`). Resolves
 * with the exit code once everything is closed.
 */
export async function startPeer (options: StartOptions, out: Output): Promise<number> {
  const existing = await runningPeer(options.repo)
  if (existing != null) throw new PeerAlreadyRunningError(options.repo, existing.pid, existing.url)

  const token = await rotateToken(options.repo)
  const inspect: InspectObserver[] = []
  if (options.inspect === 'stately') {
    console.error('npp: --inspect stately sends every inspection event to stately.ai; the link to the session follows')
    // contexts hold the libp2p node (our private key), dbs and invite secrets: only plain values go
    inspect.push(createSkyInspector({
      sanitizeContext: safeContext,
      sanitizeEvent: safeEvent,
      onerror: (err) => { console.error(`npp: stately inspector: ${err.message}`) }
    }).inspect)
  }
  const peer = createPeer({
    repo: options.repo,
    inspect,
    ...(options.listen == null || options.listen.length === 0 ? {} : { listen: options.listen }),
    ...(options.bootstrap == null ? {} : { bootstrap: options.bootstrap }),
    ...(options.accept == null ? {} : { accept: options.accept })
  })

  const progress = out.progress('starting the peer')
  const sub = peer.actor.subscribe((s) => { progress.update(`starting the peer: ${stateString(s.value)}`) })
  let exitCode = 0
  let stopping: Promise<void> | undefined
  let server: Awaited<ReturnType<typeof startControlServer>> | undefined
  let finished!: () => void
  const done = new Promise<void>((resolve) => { finished = resolve })

  const stop = async (code: number): Promise<void> => {
    if (stopping != null) return await stopping
    exitCode = code
    stopping = (async () => {
      const p = out.progress('stopping the peer')
      try {
        await server?.close()
        await peer.stop()
        p.done()
      } catch (err) {
        p.fail()
        exitCode = reportError(err)
      } finally {
        await removeApiInfo(options.repo).catch(() => {})
        finished()
      }
    })()
    return await stopping
  }

  try {
    await peer.start()
  } catch (err) {
    sub.unsubscribe()
    progress.fail()
    await peer.stop().catch(() => {})
    throw err
  }
  sub.unsubscribe()
  progress.done()

  try {
    server = await startControlServer({
      peer,
      token,
      ...(options.web == null ? {} : { host: options.web.host, port: options.web.port }),
      onStop: () => { void stop(0) }
    })
  } catch (err) {
    await peer.stop().catch(() => {})
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') throw new UsageError(`--web: port ${options.web?.port ?? 0} is in use; choose another or leave --web out for a free port`)
    throw err
  }
  await writeApiInfo(options.repo, { url: server.url, pid: process.pid, peerId: peer.transport.peerId, startedAt: Date.now() })

  // A failure at run time (the transport crashed, a package errored) ends the process.
  const failedSub = peer.actor.subscribe((s) => {
    if (s.matches('failed') && stopping == null) {
      reportError(s.context.error ?? new PeerFailedError('the peer failed; run with LOG="npp:*" to see why'))
      void stop(1)
    }
  })

  let interrupts = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++
    if (interrupts > 1) {
      console.error(`npp: ${signal} again, exiting without a clean stop`)
      process.exit(1)
    }
    void stop(0)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal) // the terminal closed

  const dashboard = `${server.url}/#token=${token}`
  const inspector = `${server.url}/inspector#token=${token}`
  const info = {
    /** With --json: this line is the `started` event (scripts and tests wait for it) */
    event: 'started',
    peerId: peer.transport.peerId,
    multiaddrs: peer.transport.multiaddrs,
    userDb: peer.catalog.userDbAddress,
    pieces: peer.catalog.piecesAddress,
    repo: options.repo,
    pid: process.pid,
    api: server.url,
    dashboard,
    inspector
  }
  out.result(info, () => [
    'New Piece, Please! peer is running',
    `  peer id    ${info.peerId}`,
    ...info.multiaddrs.map((m, i) => `  ${i === 0 ? 'listening ' : '          '} ${m}`),
    `  user db    ${info.userDb}`,
    `  repo       ${info.repo}`,
    '',
    `  dashboard  ${dashboard}`,
    ...(options.inspect == null ? [] : [`  inspector  ${inspector}`]),
    '',
    'Open the dashboard in a browser on this machine. Press Ctrl-C to stop.'
  ].join('\n'))

  await done
  failedSub.unsubscribe()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  process.off('SIGHUP', onSignal)
  if (!out.json) console.error('npp: stopped')
  return exitCode
}
