/* global document, FileReader */
// The dashboard: this peer, its connections and invites, companions (live
// online/offline) and the peers waiting for the user's consent, the catalog, "new
// piece, please" and the distributed query with streaming results.
import { api, el, events, link, ndjson, requireToken, short } from './common.js'

const $ = (id) => document.getElementById(id)

function showError (id, err) {
  $(id).textContent = err == null ? '' : (err.message ?? String(err))
}

/**
 * A click handler that runs `action` and shows its failure in the element `errorId`
 * (a rejected promise in an onclick handler would go unhandled, and the user would
 * see nothing).
 */
function guarded (errorId, action) {
  return async (...args) => {
    showError(errorId, null)
    try {
      await action(...args)
    } catch (err) {
      showError(errorId, err)
    }
  }
}

/** A time of day (with the date when it is not today), and the full date and time for a tooltip */
function when (ms) {
  const d = new Date(ms)
  const today = d.toDateString() === new Date().toDateString()
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  return { text: today ? time : `${d.toLocaleDateString()} ${time}`, title: d.toLocaleString() }
}

function sourceChip (source) {
  const local = source.kind === 'local'
  return el('span', { class: `chip${local ? ' local' : ''}`, title: source.peerId, dataset: { source: source.username } }, local ? `${source.username} (me)` : source.username)
}

// --- this peer ------------------------------------------------------------------------
async function loadId () {
  const id = await api.get('/api/id')
  $('peer-id').textContent = id.peerId
  $('peer-username').textContent = id.username ?? ''
  $('peer-addrs').replaceChildren(...id.multiaddrs.map((m) => el('div', {}, m)))
  $('peer-userdb').textContent = id.userDb
  $('peer-state').textContent = `${id.state} · ${Object.entries(id.components ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`
  $('who').textContent = `${id.username ?? ''} · ${short(id.peerId)}`
  document.title = `${id.username ?? 'peer'} · New Piece, Please!`
}

// --- connected peers ------------------------------------------------------------------
async function loadPeers () {
  const { peers } = await api.get('/api/peers')
  $('peers-count').textContent = `(${peers.length})`
  $('peers-list').replaceChildren(peers.length === 0
    ? el('div', { class: 'empty' }, 'Not connected to any peer. Paste a peer\'s multiaddr or a musician\'s invite below.')
    : el('table', {}, el('tbody', {}, peers.map((p) => el('tr', { dataset: { peer: p.peerId } },
      el('td', { class: 'mono', title: p.peerId }, short(p.peerId, 6)),
      el('td', { class: 'mono muted' }, p.connections.join(' ')))))))
}

$('connect-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const form = e.currentTarget
  const button = form.querySelector('button')
  button.disabled = true
  showError('connect-error', null)
  // the same field takes a multiaddr or an invite line
  const address = form.address.value.trim()
  try {
    await api.post('/api/peers', address.startsWith('npp-invite:') ? { invite: address } : { multiaddr: address })
    form.reset()
  } catch (err) {
    showError('connect-error', err)
  } finally {
    button.disabled = false
  }
})

// --- invites --------------------------------------------------------------------------
/**
 * Copy the invite line; without a clipboard (an insecure context, or permission
 * refused) the text stays selected for the user to copy.
 */
async function copyInvite (input, status) {
  input.focus()
  input.select()
  try {
    if (navigator.clipboard?.writeText == null) throw new Error('no clipboard')
    await navigator.clipboard.writeText(input.value)
    status.textContent = 'copied'
  } catch {
    input.focus()
    input.select()
    status.textContent = 'selected: press Ctrl+C to copy it'
  }
}

$('invite-button').addEventListener('click', guarded('invite-error', async () => {
  const button = $('invite-button')
  button.disabled = true
  try {
    const { invite, id, expiresAt } = await api.post('/api/invites', { uses: 1 })
    const expiry = when(expiresAt)
    const status = el('span', { class: 'muted', dataset: { testid: 'invite-status' } })
    const input = el('input', { class: 'grow mono', readonly: true, value: invite, 'aria-label': 'invite', spellcheck: 'false', dataset: { testid: 'invite-line' }, onfocus: (e) => { e.currentTarget.select() } })
    const revoke = el('button', {
      type: 'button',
      class: 'ghost small',
      title: 'nobody can use this invite any more',
      onclick: guarded('invite-error', async () => {
        const { revoked } = await api.delete(`/api/invites/${encodeURIComponent(id)}`)
        $('invite-result').replaceChildren(el('div', { class: 'muted invite-line' }, revoked ? 'invite revoked' : 'that invite was used or had expired already'))
      })
    }, 'revoke')
    $('invite-result').replaceChildren(el('div', { class: 'invite-line' },
      el('div', { class: 'row' },
        input,
        el('button', { type: 'button', class: 'small', onclick: async () => { await copyInvite(input, status) } }, 'Copy'),
        revoke,
        status),
      el('div', { class: 'muted', title: expiry.title },
        'for one musician, until ', el('span', { dataset: { testid: 'invite-expiry' } }, expiry.text), ' (or until this peer restarts)')))
    input.select()
  } finally {
    button.disabled = false
  }
}))

// --- companions -----------------------------------------------------------------------
async function loadCompanions () {
  const { companions } = await api.get('/api/companions')
  $('companions-count').textContent = `(${companions.filter((c) => c.status === 'online').length} online of ${companions.length})`
  $('companions-list').replaceChildren(companions.length === 0
    ? el('div', { class: 'empty' }, 'No companions yet. Connect to a peer: it becomes one by itself.')
    : el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, 'username'), el('th', {}, 'status'), el('th', {}, 'catalog'), el('th', {}, 'peer'), el('th', {}, 'last seen'), el('th', {}))),
      el('tbody', {}, companions.map((c) => el('tr', { dataset: { companion: c.profile.username, status: c.status, userDb: c.userDb } },
        el('td', {}, c.profile.username),
        el('td', {}, el('span', { class: `badge ${c.status}`, dataset: { testid: 'companion-status' } }, c.status)),
        el('td', { class: 'sync' }, syncCell(c.catalog)),
        el('td', { class: 'mono', title: c.profile.nodeId }, short(c.profile.nodeId, 4)),
        el('td', { class: 'muted', title: when(c.lastSeen).title }, when(c.lastSeen).text),
        el('td', {}, el('button', {
          class: 'ghost small',
          title: 'stop following this companion',
          onclick: guarded('companions-error', async () => { await api.delete(`/api/companions?userDb=${encodeURIComponent(c.userDb)}`); await loadCompanions() })
        }, 'remove')))))))
}

/**
 * Our replica of a companion's catalog: a progress bar while it syncs (log entries done of
 * known), else how many pieces it holds or its state
 */
function syncCell (catalog) {
  if (catalog == null) return el('span', { class: 'muted' }, 'not open')
  if (catalog.done < catalog.known && catalog.state !== 'overQuota') {
    const percent = Math.floor(100 * catalog.done / catalog.known)
    return el('span', { class: 'syncing', dataset: { testid: 'companion-sync' }, title: `${catalog.done} of ${catalog.known} log entries verified; queries answer what is there` },
      el('progress', { max: String(catalog.known), value: String(catalog.done) }), ` ${percent}%`)
  }
  return el('span', { dataset: { testid: 'companion-sync' } }, catalog.state === 'ready' ? `${catalog.pieces} piece${catalog.pieces === 1 ? '' : 's'}` : catalog.state)
}

/** A sync step of one companion's catalog: its bar moves in place; the end reloads the list */
function showSyncing ({ userDb, done, known }) {
  const row = [...document.querySelectorAll('#companions-list tr[data-user-db]')].find((tr) => tr.dataset.userDb === userDb)
  const bar = row?.querySelector('progress')
  if (bar == null || done >= known) {
    reload('companion')
    return
  }
  bar.max = known
  bar.value = done
  bar.nextSibling.textContent = ` ${Math.floor(100 * done / known)}%`
}

// --- waiting for the user's answer (consent) ------------------------------------------
/** Accept or decline one pending peer, then show the lists as they are now */
function answer (p, verb) {
  return guarded('pending-error', async (e) => {
    for (const b of e.currentTarget.closest('tr').querySelectorAll('button')) b.disabled = true
    try {
      await api.post(`/api/companions/pending/${verb}`, { target: p.peerId })
    } finally {
      await Promise.all([loadPending(), loadCompanions()])
    }
  })
}

async function loadPending () {
  const { pending } = await api.get('/api/companions/pending')
  $('pending-count').textContent = `(${pending.length})`
  $('pending-list').replaceChildren(pending.length === 0
    ? el('div', { class: 'empty', dataset: { testid: 'pending-empty' } }, 'nobody is waiting')
    : el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, 'username'), el('th', {}, 'peer'), el('th', {}, 'since'), el('th', {}))),
      el('tbody', {}, pending.map((p) => el('tr', { dataset: { pending: p.peerId } },
        el('td', { class: 'name' },
          el('span', { dataset: { testid: 'pending-username' } }, p.profile?.username || el('span', { class: 'muted' }, '(no name)')),
          p.inviteProblem == null ? null : el('div', { class: 'note', dataset: { testid: 'invite-problem' } }, `brought an invite that did not admit it: ${p.inviteProblem}`)),
        el('td', { class: 'mono', title: [p.peerId, ...(p.multiaddrs ?? [])].join('\n') }, short(p.peerId, 4)),
        el('td', { class: 'muted', title: when(p.at).title }, when(p.at).text),
        el('td', { class: 'actions' },
          el('button', { type: 'button', class: 'small', title: 'make it a companion', onclick: answer(p, 'accept') }, 'Accept'), ' ',
          el('button', { type: 'button', class: 'ghost small', title: 'refuse it: it is remembered like a removed companion', onclick: answer(p, 'decline') }, 'Decline')))))))
}

// --- catalog --------------------------------------------------------------------------
async function loadCatalog () {
  const { pieces } = await api.get('/api/pieces')
  $('catalog-count').textContent = `(${pieces.length})`
  const instruments = [...new Set(pieces.map((p) => p.instrument.toLowerCase()))].sort()
  $('instruments').replaceChildren(...instruments.map((i) => el('option', { value: i })))
  $('catalog-list').replaceChildren(pieces.length === 0
    ? el('div', { class: 'empty' }, 'Your catalog is empty. Add a piece below.')
    : el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, 'title'), el('th', {}, 'composer'), el('th', {}, 'instrument'), el('th', {}, 'practised'), el('th', {}, 'score'), el('th', {}))),
      el('tbody', {}, pieces.map((p) => el('tr', { dataset: { piece: p.hash } },
        el('td', {}, p.title ?? el('span', { class: 'muted' }, '(untitled)')),
        el('td', {}, p.composer ?? ''),
        el('td', {}, p.instrument),
        el('td', { class: 'num', dataset: { testid: 'practised' } }, String(p.practised)),
        el('td', { class: 'mono muted', title: p.hash }, short(p.hash, 8)),
        el('td', {},
          el('button', { class: 'small', onclick: guarded('catalog-error', async () => { await api.post(`/api/pieces/${encodeURIComponent(p.hash)}/practise`); await loadCatalog() }) }, 'practised +1'), ' ',
          el('button', { class: 'ghost small', onclick: guarded('catalog-error', async () => { await api.delete(`/api/pieces/${encodeURIComponent(p.hash)}`); await loadCatalog() }) }, 'remove')))))))
}

async function fileAsBase64 (file) {
  return await new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => { resolve(String(reader.result).replace(/^data:[^,]*,/, '')) }
    reader.onerror = () => { reject(reader.error) }
    reader.readAsDataURL(file)
  })
}

$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const form = e.currentTarget
  showError('add-error', null)
  const file = form.file.files[0]
  const body = { instrument: form.instrument.value.trim() }
  for (const k of ['title', 'composer']) if (form[k].value.trim() !== '') body[k] = form[k].value.trim()
  try {
    if (file != null) body.score = await fileAsBase64(file)
    else if (form.hash.value.trim() !== '') body.hash = form.hash.value.trim()
    else throw new Error('give the score: its CID, or pick the file')
    await api.post('/api/pieces', body)
    form.reset()
    await loadCatalog()
  } catch (err) {
    showError('add-error', err)
  }
})

// --- new piece, please ----------------------------------------------------------------
$('random-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const instrument = e.currentTarget.instrument.value.trim()
  showError('random-error', null)
  try {
    const { piece } = await api.get(`/api/random${instrument === '' ? '' : `?instrument=${encodeURIComponent(instrument)}`}`)
    $('random-result').replaceChildren(el('div', { class: 'pick', dataset: { testid: 'random-piece' } },
      el('div', { class: 'title' }, piece.title ?? '(untitled)'),
      el('div', {}, [piece.composer, piece.instrument].filter(Boolean).join(' · ')),
      el('div', { class: 'muted' }, `practised ${piece.practised} time${piece.practised === 1 ? '' : 's'}`)))
  } catch (err) {
    $('random-result').replaceChildren()
    showError('random-error', err)
  }
})

// --- distributed query ----------------------------------------------------------------
$('query-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const form = e.currentTarget
  const button = form.querySelector('button')
  const body = {}
  if (form.instrument.value.trim() !== '') body.instrument = form.instrument.value.trim()
  if (form.text.value.trim() !== '') body.text = form.text.value.trim()
  if (form.timeout.value !== '') body.timeoutMs = Number(form.timeout.value)
  showError('query-error', null)
  button.disabled = true
  const rows = new Map()
  const tbody = el('tbody')
  $('query-results').replaceChildren(el('table', { dataset: { testid: 'query-results' } },
    el('thead', {}, el('tr', {}, el('th', {}, 'title'), el('th', {}, 'composer'), el('th', {}, 'instrument'), el('th', {}, 'sources'))), tbody))
  $('query-summary').replaceChildren(el('div', { class: 'summary muted' }, 'asking…'))
  const upsert = (hit, source) => {
    let row = rows.get(hit.hash)
    if (row == null) {
      row = { sources: el('td'), tr: null, seen: new Set() }
      row.tr = el('tr', { dataset: { hit: hit.hash } }, el('td', {}, hit.title ?? '(untitled)'), el('td', {}, hit.composer ?? ''), el('td', {}, hit.instrument), row.sources)
      rows.set(hit.hash, row)
      tbody.append(row.tr)
    }
    for (const s of source == null ? hit.sources : [source]) {
      const key = `${s.kind}:${s.peerId}`
      if (row.seen.has(key)) continue
      row.seen.add(key)
      row.sources.append(sourceChip(s))
    }
  }
  try {
    for await (const item of ndjson('/api/query', body)) {
      if (item.type === 'batch') {
        for (const hit of item.hits) upsert(hit, item.source)
      } else if (item.type === 'done') {
        for (const hit of item.hits) upsert(hit)
        const s = item.summary
        const failures = (item.sources ?? []).filter((o) => o.status !== 'answered')
        const syncing = (item.sources ?? []).filter((o) => o.syncing != null)
        $('query-summary').replaceChildren(el('div', { class: 'summary', dataset: { testid: 'query-summary' } },
          `${s.total} piece${s.total === 1 ? '' : 's'} from ${s.answered} source${s.answered === 1 ? '' : 's'}`,
          s.syncing > 0 ? ` · ${s.syncing} still syncing` : '',
          s.timedOut > 0 ? ` · ${s.timedOut} timed out` : '',
          s.failed > 0 ? ` · ${s.failed} failed` : '',
          syncing.length > 0 ? el('div', { class: 'muted', dataset: { testid: 'query-syncing' } }, syncing.map((o) => `${o.source.username}: answered from ${o.syncing.done} of ${o.syncing.known} entries (syncing; ask again for more)`).join(' · ')) : '',
          failures.length > 0 ? el('div', { class: 'muted' }, failures.map((o) => `${o.source.username}: ${o.status}${o.reason == null ? '' : ` (${o.reason})`}`).join(' · ')) : ''))
        if (rows.size === 0) $('query-results').replaceChildren(el('div', { class: 'empty' }, 'Nothing found.'))
      } else if (item.type === 'error') {
        throw new Error(item.error.message)
      }
    }
  } catch (err) {
    showError('query-error', err)
  } finally {
    button.disabled = false
  }
})

// --- live updates ---------------------------------------------------------------------
const reloaders = {
  peer: loadPeers,
  companion: loadCompanions,
  catalog: loadCatalog,
  transport: loadId,
  pending: loadPending
}
/** The bus events that change the list of peers waiting for an answer */
const PENDING_EVENTS = new Set(['companion:pending', 'companion:declined', 'companion:discovered'])
const scheduled = new Set()
function reload (what) {
  if (scheduled.has(what)) return
  scheduled.add(what)
  // coalesce bursts of events into one reload
  setTimeout(() => { scheduled.delete(what); reloaders[what]().catch(() => {}) }, 50)
}

function logActivity (type, payload) {
  const log = $('activity-log')
  const detail = payload.profile?.username ?? payload.username ?? payload.peerId ?? payload.from ?? payload.hash ?? payload.queryId ?? ''
  log.prepend(el('div', {}, `${new Date().toLocaleTimeString()}  ${type}  ${typeof detail === 'string' ? detail : ''}${payload.reason == null ? '' : `  (${payload.reason})`}`))
  while (log.childElementCount > 100) log.lastElementChild.remove()
}

if (requireToken($('main'))) {
  $('nav-inspector').href = link('/inspector')
  $('nav-dashboard').href = link('/')
  events({
    onStatus: (live) => { $('live').classList.toggle('live', live) },
    onEvent: (event, data) => {
      if (event === 'hello') {
        // (re)connected: load everything
        for (const what of Object.keys(reloaders)) reload(what)
        return
      }
      if (event !== 'bus') return
      const domain = data.type.split(':')[0]
      if (domain === 'catalog' && data.type !== 'catalog:changed') {
        if (data.type === 'catalog:replicated') logActivity(data.type, data.payload)
        if (data.type === 'catalog:syncing') showSyncing(data.payload)
        return
      }
      if (domain === 'message') return
      logActivity(data.type, data.payload)
      if (domain in reloaders) reload(domain)
      if (PENDING_EVENTS.has(data.type)) reload('pending')
    }
  })
}
