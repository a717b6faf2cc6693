import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

// The public surface of @npp/transport, on purpose: a new export is a decision, a
// removed one breaks its users. Types are not listed (they vanish at run time).
describe('@npp/transport exports', () => {
  it('exports exactly these names', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'DialTimeoutError',
      'Documents',
      'Events',
      'IPFSAccessController',
      'InvalidMultiaddrError',
      'InvalidPeerIdError',
      'InvalidTransportOptionError',
      'KeyValue',
      'MessageNotDeliveredError',
      'MessageTooLargeError',
      'NotStartedError',
      'OWN_DATABASES',
      'OrbitDBAddressSchema',
      'PeerNotSubscribedError',
      'PeerUnreachableError',
      'RepoLockedError',
      'SelfDialError',
      'TransportError',
      'createTransport',
      'enableLogging',
      'inspectDatabase',
      'isAlive',
      'isValidAddress',
      'nppLogger',
      'onNotice',
      'openOwnDatabase',
      'startSync',
      'transportMachine'
    ])
  })

  it('@npp/transport/client exports exactly these names and loads none of libp2p, Helia or OrbitDB', async () => {
    expect(Object.keys(await import('../src/client.js')).sort()).toEqual(['OrbitDBAddressSchema', 'isAlive'])
    // a fresh Node process records every package that importing the built entry resolves
    const hooks = `import { registerHooks } from 'node:module'
const seen = new Set()
registerHooks({ resolve (specifier, context, next) { const r = next(specifier, context); const m = /node_modules\\/\\.pnpm\\/([^/]+)\\//.exec(r.url); if (m != null) seen.add(m[1]); return r } })
await import(${JSON.stringify(fileURLToPath(new URL('../dist/client.js', import.meta.url)))})
console.log(JSON.stringify([...seen]))`
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', hooks])
    const loaded = JSON.parse(stdout) as string[]
    expect(loaded.length).toBeGreaterThan(0) // the hook saw zod and multiformats
    expect(loaded.filter((p) => /libp2p|helia|orbitdb|level/.test(p))).toEqual([])
  })
})
