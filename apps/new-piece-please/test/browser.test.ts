import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cleanups, followBus, NppPeer, tempDir } from './helpers.js'
import type { BrowserContext, Locator, Page } from 'playwright-core'

/**
 * The dashboard and the inspector in a real browser: Debian's Chromium driven by
 * playwright-core (never a browser download). Screenshots go to test-results/.
 */
const CHROMIUM = '/usr/bin/chromium'
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url))

let alice: NppPeer
let bob: NppPeer
let context: BrowserContext
let page: Page
const cleanups = new Cleanups()
const pageErrors: string[] = []

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's Chromium at ${CHROMIUM}: install it with \`apt-get update && apt-get install -y chromium\` (.ci/run does this)`)
  }
  const [a, b, profile] = await Promise.all([tempDir(cleanups, 'app-web-alice'), tempDir(cleanups, 'app-web-bob'), tempDir(cleanups, 'app-chromium-profile')])
  ;[alice, bob] = await Promise.all([NppPeer.start(a), NppPeer.start(b)])
  cleanups.add(async () => { await Promise.allSettled([alice?.kill(), bob?.kill()]) })
  await alice.api.put('/api/profile/username', { value: 'alice' })
  await bob.api.put('/api/profile/username', { value: 'bob' })
  await alice.api.post('/api/pieces', { instrument: 'violin', title: 'Méditation', composer: 'Massenet', score: Buffer.from('Méditation').toString('base64') })
  await bob.api.post('/api/pieces', { instrument: 'violin', title: 'Csárdás', composer: 'Monti', score: Buffer.from('Csárdás').toString('base64') })
  await bob.api.post('/api/pieces', { instrument: 'cello', title: 'Cello Suite No. 1', composer: 'Bach', score: Buffer.from('Suite').toString('base64') })

  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 }
  })
  // the pages may load only what the peer itself serves (no CDN, no other address)
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url())
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:') await route.continue()
    else await route.abort()
  })
  page = context.pages()[0] ?? await context.newPage()
  // an uncaught error or an unhandled rejection in a page fails the file
  page.on('pageerror', (err) => { pageErrors.push(err.message) })
})

afterAll(async () => {
  await context?.close()
  await cleanups.run()
  expect(pageErrors).toEqual([])
})

/** A screenshot of the page (the viewport, or `fullPage`), or of one element of it */
async function screenshot (name: string, what: boolean | Locator): Promise<string> {
  await mkdir(RESULTS, { recursive: true })
  const path = join(RESULTS, name)
  if (typeof what === 'boolean') await page.screenshot({ path, fullPage: what })
  else await what.screenshot({ path })
  console.log(`screenshot: ${path}`)
  return path
}

describe('the dashboard in Chromium', () => {
  it('shows the peer, sees a second peer become an online companion, and runs a query with sources', async () => {
    await page.goto(alice.info.dashboard)
    // the token moved from the URL fragment into the tab's session storage
    expect(page.url()).not.toContain('token=')
    await expect.poll(async () => await page.textContent('#peer-id')).toBe(alice.info.peerId)
    await page.waitForSelector('[data-piece] >> text=Méditation')
    // nobody has asked to be alice's companion yet
    expect(await page.locator('[data-testid=pending-empty]').textContent()).toBe('nobody is waiting')

    // connect to bob from the dashboard
    const bus = await followBus(alice.api)
    await page.fill('#connect-form [name=address]', bob.info.multiaddrs[0]!)
    await page.click('#connect-form button')
    await page.waitForSelector('[data-companion="bob"][data-status="online"]', { timeout: 30_000 })
    await page.waitForSelector(`[data-peer="${bob.info.peerId}"]`)
    // both of bob's pieces have arrived in alice's replica of his catalog
    await bus.waitFor('catalog:replicated', (p) => p.peerId === bob.info.peerId && p.pieces === 2)
    bus.close()
    // the companions list says so (its progress bar, shown while a catalog syncs, is gone)
    await expect.poll(async () => await page.textContent('[data-companion="bob"] [data-testid=companion-sync]'), { timeout: 15_000 }).toBe('2 pieces')

    // new piece, please
    await page.fill('#random-form [name=instrument]', 'violin')
    await page.click('#random-form button')
    await page.waitForSelector('[data-testid=random-piece] >> text=Méditation')

    // distributed query: results stream in with their sources
    await page.fill('#query-form [name=instrument]', 'violin')
    await page.click('#query-form button')
    await page.waitForSelector('[data-testid=query-summary]', { timeout: 30_000 })
    const rows = await page.$$eval('[data-testid=query-results] tr[data-hit]', (trs) => trs.map((tr) => ({
      title: tr.querySelector('td')?.textContent,
      sources: [...tr.querySelectorAll('[data-source]')].map((s) => s.getAttribute('data-source'))
    })))
    expect(rows).toEqual(expect.arrayContaining([
      { title: 'Méditation', sources: ['alice'] },
      { title: 'Csárdás', sources: ['bob'] }
    ]))
    expect(rows).toHaveLength(2)
    expect(await page.textContent('[data-testid=query-summary]')).toMatch(/^2 pieces from 2 sources/)

    // practise from the catalog table: the count updates live
    await page.click('[data-piece] >> text=practised +1')
    await expect.poll(async () => await page.textContent('[data-piece] [data-testid=practised]')).toBe('1')
    await screenshot('dashboard.png', true)

    // a button whose request fails shows the error in the page (no unhandled rejection)
    const saved = await page.evaluate(() => sessionStorage.getItem('npp-token'))
    await page.evaluate(() => { sessionStorage.setItem('npp-token', 'not-the-token') })
    await page.click('[data-piece] >> text=practised +1')
    await expect.poll(async () => await page.textContent('[data-testid=catalog-error]')).toMatch(/^wrong token/)
    await page.evaluate((t) => { sessionStorage.setItem('npp-token', t ?? '') }, saved)
    await page.click('[data-piece] >> text=practised +1')
    await expect.poll(async () => await page.textContent('[data-piece] [data-testid=practised]')).toBe('2')
    expect(await page.textContent('[data-testid=catalog-error]')).toBe('')
  })

  it('draws every machine and highlights a companion actor\'s state as it goes offline', async () => {
    await page.click('#nav-inspector')
    await page.waitForURL('**/inspector')
    // every package machine drawn from its definition
    for (const id of ['npp', 'transport', 'catalog', 'discovery', 'companions']) {
      await page.waitForSelector(`[data-definition="${id}"] svg`, { timeout: 30_000 })
    }
    // ... each one drawn (no mermaid syntax errors)
    const { machines } = await alice.api.get<{ machines: unknown[] }>('/api/machines')
    await expect.poll(async () => await page.locator('[data-definition] .diagram svg').count(), { timeout: 30_000 }).toBe(machines.length)
    expect(await page.locator('.diagram:has-text("cannot draw")').count()).toBe(0)
    // the live actor of companion bob, spawned by the companions machine, is online
    const card = page.locator('.actor[data-machine="companion"]').first()
    await card.waitFor()
    await expect.poll(async () => await card.getAttribute('data-drawn-state'), { timeout: 30_000 }).toBe('online')
    expect(await card.locator('svg g.node.active').textContent()).toBe('online')
    // the event log shows the events between actors, and filters them
    await page.fill('#event-filter', 'peer:connected')
    await expect.poll(async () => await page.locator('#events tr:not([hidden])').count()).toBeGreaterThan(0)
    await page.fill('#event-filter', '')

    // bob's process dies: the companion's actor leaves `online`, and the diagram follows
    await bob.kill()
    await expect.poll(async () => await card.getAttribute('data-drawn-state'), { timeout: 30_000 }).toMatch(/^(offline|reconnecting)$/)
    const highlighted = await card.locator('svg g.node.active').textContent()
    expect(highlighted).toMatch(/^(offline|reconnecting)$/)
    await page.fill('#event-filter', 'peer:disconnected')
    await expect.poll(async () => await page.locator('#events tr:not([hidden])').count()).toBeGreaterThan(0)
    await page.fill('#event-filter', '')
    await card.evaluate((el) => { el.scrollIntoView({ block: 'center' }) })
    await screenshot('inspector.png', false)
  })

  it('the dashboard sees the companion offline too, and a query reports it', async () => {
    await page.click('#nav-dashboard')
    await page.waitForSelector('[data-companion="bob"]:not([data-status="online"])', { timeout: 30_000 })
    await page.fill('#query-form [name=instrument]', 'violin')
    await page.fill('#query-form [name=timeout]', '1000')
    await page.click('#query-form button')
    await page.waitForSelector('[data-testid=query-summary]', { timeout: 30_000 })
    expect(await page.textContent('[data-testid=query-summary]')).toMatch(/from 1 source.*(timed out|failed)/s)
  })

  it('peers that dial us wait for our answer (Accept, Decline); an invite is one line to copy, and Connect takes one', async () => {
    // the dashboard shows remote text as text: this username is no markup
    const username = 'carol <img src=x onerror="window.__nppInjected=1">'
    const start = async (name: string, value: string): Promise<NppPeer> => {
      const peer = await NppPeer.start(await tempDir(cleanups, `app-web-${name}`))
      cleanups.add(async () => { await peer.kill() })
      await peer.api.put('/api/profile/username', { value })
      return peer
    }
    const [carol, dave, erin] = await Promise.all([start('carol', username), start('dave', 'dave'), start('erin', 'erin')])
    await page.locator('[data-testid=pending-empty]').waitFor()

    // carol and erin dial alice: they consent, alice was asked by nobody, so they wait for her answer
    await Promise.all([carol, erin].map(async (p) => await p.api.post('/api/peers', { multiaddr: alice.info.multiaddrs[0] })))
    const row = page.locator(`[data-pending="${carol.info.peerId}"]`)
    const erinsRow = page.locator(`[data-pending="${erin.info.peerId}"]`)
    await row.waitFor({ timeout: 30_000 })
    await erinsRow.waitFor({ timeout: 30_000 })
    expect(await row.locator('[data-testid=pending-username]').textContent()).toBe(username)
    expect(await row.locator('img').count()).toBe(0)
    expect(await page.textContent('#pending-count')).toBe('(2)')
    expect(await page.locator(`[data-companion=${JSON.stringify(username)}]`).count()).toBe(0)
    await screenshot('pending.png', page.locator('#pending'))

    // Decline: erin leaves the list and is no companion
    const bus = await followBus(alice.api)
    await erinsRow.locator('button', { hasText: 'Decline' }).click()
    await erinsRow.waitFor({ state: 'detached' })
    await bus.waitFor('companion:declined', (p) => p.peerId === erin.info.peerId && p.reason === 'declined')
    bus.close()
    expect(await page.textContent('#pending-count')).toBe('(1)')
    expect(await page.locator('[data-companion="erin"]').count()).toBe(0)

    // Accept: carol becomes an online companion, and nobody is waiting any more
    await row.locator('button', { hasText: 'Accept' }).click()
    await page.locator(`[data-companion=${JSON.stringify(username)}][data-status="online"]`).waitFor({ timeout: 30_000 })
    await page.locator('[data-testid=pending-empty]').waitFor()
    expect(await page.textContent('[data-testid=pending-error]')).toBe('')
    expect(await page.evaluate(() => (globalThis as { __nppInjected?: number }).__nppInjected)).toBeUndefined()

    // an invite: one read-only line, selected by Copy whether or not there is a clipboard
    await page.click('#invite-button')
    const line = page.locator('[data-testid=invite-line]')
    await line.waitFor()
    const invite = await line.inputValue()
    expect(invite).toMatch(/^npp-invite:[A-Za-z0-9_-]+$/)
    expect(await line.getAttribute('readonly')).not.toBeNull()
    expect(await page.textContent('[data-testid=invite-expiry]')).not.toBe('')
    await page.locator('#invite-result button', { hasText: 'Copy' }).click()
    await expect.poll(async () => await page.textContent('[data-testid=invite-status]')).toMatch(/^(copied|selected)/)
    await screenshot('invite.png', page.locator('#peers'))
    expect(await line.evaluate((input: { value: string, selectionStart: number | null, selectionEnd: number | null }) => input.value.slice(input.selectionStart ?? 0, input.selectionEnd ?? 0))).toBe(invite)

    // Connect sends an invite as an invite (the peer refuses alice's own)...
    await page.fill('#connect-form [name=address]', invite)
    await page.click('#connect-form button')
    await expect.poll(async () => await page.textContent('#connect-error')).toMatch(/our own invite/)
    // (revoked, it admits nobody)
    await page.locator('#invite-result button', { hasText: 'revoke' }).click()
    await page.locator('#invite-result', { hasText: 'invite revoked' }).waitFor()
    // ... and dave's invite makes alice and dave companions, neither waiting for an answer
    const { invite: davesInvite } = await dave.api.post<{ invite: string }>('/api/invites', {})
    const davesBus = await followBus(dave.api)
    await page.fill('#connect-form [name=address]', davesInvite)
    await page.click('#connect-form button')
    await page.locator('[data-companion="dave"][data-status="online"]').waitFor({ timeout: 30_000 })
    expect(await page.textContent('#connect-error')).toBe('')
    await davesBus.waitFor('companion:online', (p) => p.peerId === alice.info.peerId)
    davesBus.close()
    expect((await dave.api.get<{ pending: unknown[] }>('/api/companions/pending')).pending).toEqual([])
  })
})
