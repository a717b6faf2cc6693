import { afterEach, describe, expect, it } from 'vitest'
import { cidOf, copyKeystore, runCleanups, startPeer, tempRepo } from './helpers.js'
import type { TestPeer } from './helpers.js'

afterEach(runCleanups)

/** Resolve when `peer` counts `expected` practice sessions of `hash`, re-checking on every catalog:changed */
async function counted (peer: TestPeer, hash: string, expected: number, timeoutMs = 15_000): Promise<void> {
  if (await peer.catalog.practiceCount(hash) === expected) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`${peer.name} did not reach ${expected} within ${timeoutMs} ms`)) }, timeoutMs)
    const off = peer.bus.subscribe('catalog:changed', (e) => {
      if (e.hash !== hash || e.change !== 'practised') return
      peer.catalog.practiceCount(hash).then((n) => {
        if (n === expected) { clearTimeout(timer); off(); resolve() }
      }, reject)
    })
  })
}

describe('two devices of the same owner', () => {
  it('lose no practice increment when they practise the same piece concurrently and sync', async () => {
    // the first device creates the owner's identity, then lends its keystore to the second
    const first = await startPeer('laptop')
    // the identity is created from the key named after the first device's peer id
    const identityId = first.transport.peerId
    const identity = first.transport.orbitdb.identity.id
    await first.catalog.stop()
    await first.transport.stop()
    const secondRepo = await tempRepo('phone')
    await copyKeystore(first.repo, secondRepo)

    const laptop = await startPeer('laptop', { repo: first.repo, identityId })
    const phone = await startPeer('phone', { repo: secondRepo, identityId })
    expect(laptop.transport.orbitdb.identity.id).toBe(identity)
    expect(phone.transport.orbitdb.identity.id).toBe(identity)
    expect(phone.transport.orbitdb.identity.publicKey).toBe(laptop.transport.orbitdb.identity.publicKey)
    expect(phone.transport.peerId).not.toBe(laptop.transport.peerId)
    // same identity, same own dbs
    expect(phone.catalog.piecesAddress).toBe(laptop.catalog.piecesAddress)

    const hash = await cidOf('etude')
    await laptop.catalog.practise(hash) // one before they meet
    await phone.transport.connect(laptop.transport.multiaddrs[0]!)
    await Promise.all([counted(phone, hash, 1), counted(laptop, hash, 1)])

    // 2 x 10 increments at the same time on both devices, from the same identity and clock id
    await Promise.all([
      ...Array.from({ length: 10 }, async () => await laptop.catalog.practise(hash)),
      ...Array.from({ length: 10 }, async () => await phone.catalog.practise(hash))
    ])
    await Promise.all([counted(laptop, hash, 21), counted(phone, hash, 21)])
    expect(await laptop.catalog.practiceCount(hash)).toBe(21)
    expect(await phone.catalog.practiceCount(hash)).toBe(21)

    // pieces written on one device show up on the other (the pieces db is shared too)
    const added = phone.bus.waitFor('catalog:changed', (e) => e.change === 'added', { timeoutMs: 15_000 })
    await laptop.catalog.add({ hash, instrument: 'guitar', title: 'Étude 1' })
    await added
    expect(await phone.catalog.get(hash)).toMatchObject({ instrument: 'guitar' })
  })
})
