import { describe, expect, it } from 'vitest'
import { safeContext, safeEvent } from '../src/inspect/sanitize.js'

describe('what goes to Stately\'s hosted inspector', () => {
  it('keeps plain values and sizes; never keys, secrets, nodes or dbs', () => {
    // a private key as libp2p holds it (a class instance with its raw bytes)
    const privateKey = new (class Ed25519PrivateKey { readonly raw = new Uint8Array(64).fill(7) })()
    const libp2p = { peerId: 'x', privateKey, services: {} }
    const context = {
      libp2p,
      transport: { libp2p },
      privateKey,
      invites: { abc: { secret: 'S3CRET' } },
      peers: { a: true, b: true },
      queue: [1, 2, 3],
      userDb: '/orbitdb/zdpu...',
      attempts: 2,
      error: undefined,
      db: new (class Db { address = 'a' })()
    }
    const safe = safeContext(context)
    // plain records become their size (nothing inside them leaves); class instances go entirely
    expect(safe).toEqual({ libp2p: { size: 3 }, transport: { size: 1 }, peers: { size: 2 }, queue: { size: 3 }, userDb: '/orbitdb/zdpu...', attempts: 2 })
    const text = JSON.stringify(safe)
    expect(text).not.toContain('S3CRET')
    expect(safeEvent({ type: 'consent.dial', peerId: 'p', proof: { id: 'i', mac: 'm' }, invite: 'npp-invite:x' })).toEqual({ type: 'consent.dial', peerId: 'p' })
  })
})
