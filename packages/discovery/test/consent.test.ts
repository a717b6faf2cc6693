import { afterEach, describe, expect, it } from 'vitest'
import { checkInvite, decodeInvite, issueInvite, proveInvite } from '../src/consent.js'
import { InvalidInviteError, UnknownPendingError, createDiscovery } from '../src/index.js'
import { Cleanups, noCompanions, seen, startPeer } from './helpers.js'
import type { TestPeer } from './helpers.js'

const cleanups = new Cleanups()
afterEach(async () => { await cleanups.run() })

const consenting = async (name: string, options: Parameters<typeof startPeer>[2] = {}): Promise<TestPeer> =>
  await startPeer(cleanups, name, { accept: 'consent', ...options })

const discoveredBy = async (peer: TestPeer, nodeId: string): Promise<void> => {
  await peer.bus.waitFor('companion:discovered', (e) => e.profile.nodeId === nodeId, { timeoutMs: 20_000 })
}

describe('consent (accept: consent, the default)', () => {
  it('a peer we did not dial and that has no invite waits in the pending list; accepting it makes it a companion', async () => {
    const a = await consenting('host')
    const b = await consenting('guest')
    const pending = a.bus.waitFor('companion:pending', (e) => e.peerId === b.transport.peerId, { timeoutMs: 20_000 })
    // b dials a: b consents to a, a was asked by nobody
    const bSeesA = discoveredBy(b, a.transport.peerId)
    await b.discovery!.connect(a.transport.multiaddrs[0]!)
    await bSeesA
    const asked = await pending
    expect(asked.profile.nodeId).toBe(b.transport.peerId)
    expect(a.discovery!.pending().map((p) => p.peerId)).toEqual([b.transport.peerId])
    expect(seen(a, 'companion:discovered').some((e) => e.profile.nodeId === b.transport.peerId)).toBe(false)

    const aSeesB = discoveredBy(a, b.transport.peerId)
    expect(a.discovery!.accept(b.transport.peerId)).toBe(1)
    await aSeesB
    expect(a.discovery!.pending()).toEqual([])
    expect(() => a.discovery!.accept(b.transport.peerId)).toThrow(UnknownPendingError)
  })

  it('an invite admits the peer that uses it on both sides at once, once', async () => {
    const a = await consenting('inviter')
    const b = await consenting('invitee')
    const { invite, id } = a.discovery!.invite({ ttlMs: 60_000 })
    expect(decodeInvite(invite)).toMatchObject({ peerId: a.transport.peerId, id, addresses: a.transport.multiaddrs })
    const both = Promise.all([discoveredBy(a, b.transport.peerId), discoveredBy(b, a.transport.peerId)])
    await b.discovery!.connect(invite)
    await both
    expect(seen(a, 'companion:pending')).toEqual([])
    // single use: it is gone now
    expect(a.discovery!.revokeInvite(id)).toBe(false)
  })

  it('declining remembers the peer like a removed companion; readmit takes it back', async () => {
    const a = await consenting('decliner')
    const b = await consenting('declined')
    const pending = a.bus.waitFor('companion:pending', (e) => e.peerId === b.transport.peerId, { timeoutMs: 20_000 })
    await b.discovery!.connect(a.transport.multiaddrs[0]!)
    await pending
    const declined = a.bus.waitFor('companion:declined', (e) => e.peerId === b.transport.peerId, { timeoutMs: 5_000 })
    expect(await a.discovery!.decline(b.transport.peerId)).toBe(1)
    expect((await declined).reason).toBe('declined')
    expect(a.discovery!.removed().map((r) => r.nodeId)).toEqual([b.transport.peerId])
    expect(a.discovery!.pending()).toEqual([])
    expect(await a.discovery!.readmit(b.transport.peerId)).toBe(1)
  })

  it("accept: 'none' refuses every new peer before opening anything", async () => {
    const a = await consenting('closed', { accept: 'none' })
    const b = await consenting('knocker')
    const refused = a.bus.waitFor('discovery:rejected', (e) => e.from === b.transport.peerId, { timeoutMs: 20_000 })
    await b.discovery!.connect(a.transport.multiaddrs[0]!)
    expect((await refused).reason).toBe('not-accepting')
    expect(seen(a, 'db:announced')).toEqual([])
  })

  it('keeps at most maxCompanions: one more is refused with what to do, nothing of it kept open', async () => {
    const a = await startPeer(cleanups, 'full', { accept: 'all', maxCompanions: 1, companions: { has: () => false, count: () => 1 } })
    const b = await consenting('one-too-many')
    const refused = a.bus.waitFor('discovery:rejected', (e) => e.from === b.transport.peerId, { timeoutMs: 20_000 })
    await b.discovery!.connect(a.transport.multiaddrs[0]!)
    const rejection = await refused
    expect(rejection.reason).toBe('too-many-companions')
    expect(rejection.detail).toMatch(/at most 1 companions; remove one/)
    expect(seen(a, 'companion:discovered')).toEqual([])
  })

  it('the pending list is bounded: the oldest are dropped', async () => {
    const a = await consenting('crowded', { maxPending: 1 })
    const b = await consenting('first')
    const c = await consenting('second')
    const first = a.bus.waitFor('companion:pending', (e) => e.peerId === b.transport.peerId, { timeoutMs: 20_000 })
    await b.discovery!.connect(a.transport.multiaddrs[0]!)
    await first
    const dropped = a.bus.waitFor('companion:declined', (e) => e.peerId === b.transport.peerId, { timeoutMs: 20_000 })
    await c.discovery!.connect(a.transport.multiaddrs[0]!)
    expect((await dropped).reason).toBe('dropped')
    expect(a.discovery!.pending().map((p) => p.peerId)).toEqual([c.transport.peerId])
  })
})

describe('invites', () => {
  it('outlive a restart in an invite store; revoked and used ones do not', async () => {
    let kept: unknown[] = []
    const store = { load: async () => kept, save: async (invites: unknown[]) => { kept = structuredClone(invites) } }
    const a = await consenting('keeper', { invites: store })
    const { id } = a.discovery!.invite({ ttlMs: 60_000 })
    const { id: revoked } = a.discovery!.invite({ ttlMs: 60_000 })
    expect(a.discovery!.revokeInvite(revoked)).toBe(true)
    await a.discovery!.stop()
    expect(kept).toEqual([expect.objectContaining({ id, usesLeft: 1 })])
    const again = createDiscovery({ bus: a.bus, transport: a.transport, catalog: a.catalog, companions: noCompanions, invites: store })
    cleanups.add(async () => { await again.stop() })
    await again.start()
    // the invite made before the restart still admits: it is known (and can be revoked)
    expect(again.revokeInvite(revoked)).toBe(false)
    expect(again.revokeInvite(id)).toBe(true)
  })

  it('are bound to the sender: a proof made for one peer admits no other, and expired or used invites admit nobody', () => {
    const issued = issueInvite(60_000, 1, 1_000)
    const invite = { peerId: 'inviter', addresses: ['/ip4/127.0.0.1/tcp/1/p2p/inviter'], id: issued.id, secret: issued.secret, expiresAt: issued.expiresAt }
    const proof = proveInvite(invite, 'bob')
    const invites = { [issued.id]: issued }
    expect(checkInvite(invites, proof, 'inviter', 'bob', 2_000)).toEqual({ ok: true })
    // a relaying or overhearing peer presents bob's proof as its own
    expect(checkInvite(invites, proof, 'inviter', 'mallory', 2_000)).toMatchObject({ ok: false, problem: expect.stringMatching(/not made for this sender/) })
    expect(checkInvite(invites, proof, 'inviter', 'bob', 61_000)).toMatchObject({ ok: false, problem: expect.stringMatching(/expired/) })
    expect(checkInvite({ [issued.id]: { ...issued, usesLeft: 0 } }, proof, 'inviter', 'bob', 2_000)).toMatchObject({ ok: false, problem: expect.stringMatching(/used already/) })
    expect(checkInvite({}, proof, 'inviter', 'bob', 2_000)).toMatchObject({ ok: false, problem: expect.stringMatching(/unknown/) })
  })

  it('have ids a user can type as a command argument (never beginning with -)', () => {
    // a base64url id began with '-' one time in 64: `npp invite revoke -Wk...` was read as an option
    for (let i = 0; i < 500; i++) expect(issueInvite(60_000, 1).id).toMatch(/^[0-9a-f]{36}$/)
  })

  it('that are malformed are refused with what is wrong', () => {
    expect(() => decodeInvite('hello')).toThrow(InvalidInviteError)
    expect(() => decodeInvite('npp-invite:!!!')).toThrow(/not base64url-encoded JSON|not a valid invite/)
    expect(() => decodeInvite('npp-invite:' + Buffer.from(JSON.stringify({ v: 1 })).toString('base64url'))).toThrow(/p: /)
  })
})
