/* global document, window */
// The machine inspector: every live actor of the peer (from XState's inspection
// events, streamed by the peer), each machine actor drawn as a statechart with its
// current state highlighted, and a filterable log of the events between actors.
import { api, el, events, link, requireToken } from './common.js'

const $ = (id) => document.getElementById(id)
const mermaid = window.mermaid

/** machine id -> { graph, mermaid, ids, owner } */
const machines = new Map()
/** sessionId -> actor info (see ActorInfo in src/inspect/recorder.ts) */
const actors = new Map()
/** sessionId -> { card, diagram, stateText, rendered, timer } */
const cards = new Map()
let renderChain = Promise.resolve()
let renderCount = 0

/** The state of an actor or snapshot record as one string (the peer computes it: `state`) */
function stateOf (record) {
  return record?.state ?? ''
}

/** Mermaid renders one diagram at a time: chain the renders */
function render (text) {
  const id = `m${++renderCount}`
  const next = renderChain.then(async () => {
    try {
      return (await mermaid.render(id, text)).svg
    } finally {
      // on a failure mermaid leaves its error drawing in the page
      document.getElementById(`d${id}`)?.remove()
      document.getElementById(id)?.remove()
    }
  })
  renderChain = next.catch(() => {})
  return next
}

function diagramText (machineId, active) {
  const m = machines.get(machineId)
  if (m == null) return undefined
  const leaves = (active ?? []).map((id) => m.ids[id]).filter((id) => id != null)
  // only atomic states can be styled in mermaid; composite ancestors stay plain
  const atomic = leaves.filter((mid) => {
    const stateId = Object.keys(m.ids).find((k) => m.ids[k] === mid)
    return !(active ?? []).some((other) => other !== stateId && other.startsWith(`${stateId}.`))
  })
  return atomic.length === 0 ? m.mermaid : `${m.mermaid}  class ${atomic.join(',')} active\n`
}

// --- live actor cards -----------------------------------------------------------------
function labelPath (actor) {
  const parts = []
  for (let a = actor; a != null; a = actors.get(a.parent)) parts.unshift(a.label)
  return parts.join(' › ')
}

function ensureCard (actor) {
  if (actor.machine == null) return undefined
  let entry = cards.get(actor.sessionId)
  if (entry != null) return entry
  const stateText = el('span', { class: 'current' })
  const diagram = el('div', { class: 'diagram' }, el('span', { class: 'muted' }, 'drawing…'))
  const m = machines.get(actor.machine)
  const card = el('div', {
    class: 'card actor',
    id: `actor-${actor.sessionId}`,
    dataset: { actor: actor.label, machine: actor.machine, session: actor.sessionId }
  },
  el('h3', {}, el('span', { class: 'path' }, labelPath(actor)), stateText),
  el('div', { class: 'meta' }, `machine ${actor.machine}${m == null ? '' : ` · ${m.owner}`} · ${actor.sessionId}`),
  diagram)
  entry = { card, diagram, stateText, rendered: undefined, timer: undefined }
  cards.set(actor.sessionId, entry)
  // the app's root machine first, then the packages and their children as they appear
  if (actor.machine === 'npp') $('actors').prepend(card)
  else $('actors').append(card)
  return entry
}

function updateCard (actor, flash) {
  const entry = ensureCard(actor)
  if (entry == null) return
  const state = stateOf(actor)
  entry.stateText.textContent = state
  entry.card.dataset.state = state
  entry.card.dataset.status = actor.status
  entry.card.querySelector('.path').textContent = labelPath(actor)
  if (flash) {
    entry.card.classList.remove('flash')
    void entry.card.offsetWidth
    entry.card.classList.add('flash')
  }
  // redraw at most every 100 ms per actor
  if (entry.timer != null) return
  entry.timer = setTimeout(async () => {
    entry.timer = undefined
    const current = actors.get(actor.sessionId) ?? actor
    const text = diagramText(current.machine, current.active)
    if (text == null || text === entry.rendered) return
    entry.rendered = text
    try {
      entry.diagram.innerHTML = await render(text)
      entry.card.dataset.drawnState = stateOf(current)
    } catch (err) {
      entry.diagram.textContent = `cannot draw: ${err.message}`
    }
  }, 100)
}

function removeCard (sessionId) {
  const entry = cards.get(sessionId)
  if (entry == null) return
  entry.card.remove()
  cards.delete(sessionId)
}

// --- actor tree -----------------------------------------------------------------------
let treeTimer
function renderTree () {
  if (treeTimer != null) return
  treeTimer = setTimeout(() => {
    treeTimer = undefined
    const filter = $('actor-filter').value.trim().toLowerCase()
    const children = new Map()
    for (const a of actors.values()) {
      const key = a.parent != null && actors.has(a.parent) ? a.parent : ''
      if (!children.has(key)) children.set(key, [])
      children.get(key).push(a)
    }
    const roots = children.get('') ?? []
    roots.sort((a, b) => (a.machine === 'npp' ? -1 : 0) - (b.machine === 'npp' ? -1 : 0))
    const matches = (a) => filter === '' || `${a.label} ${a.machine ?? ''} ${stateOf(a)}`.toLowerCase().includes(filter)
    const subtreeMatches = (a) => matches(a) || (children.get(a.sessionId) ?? []).some(subtreeMatches)
    const build = (key, root) => el('ul', { class: `tree${root ? ' root' : ''}` },
      (children.get(key) ?? []).filter(subtreeMatches).map((a) => el('li', { dataset: { session: a.sessionId } },
        el('div', {
          class: `node${a.status === 'active' ? '' : ' stopped'}`,
          onclick: () => { cards.get(a.sessionId)?.card.scrollIntoView({ behavior: 'smooth', block: 'center' }) }
        },
        el('span', {}, a.label),
        el('span', { class: 'state' }, a.machine == null ? '' : stateOf(a)),
        el('span', { class: 'kind' }, a.machine == null ? (a.status === 'active' ? 'actor' : a.status) : a.machine)),
        build(a.sessionId, false))))
    $('tree').replaceWith(Object.assign(build('', true), { id: 'tree' }))
    $('actor-count').textContent = `(${actors.size})`
  }, 150)
}
$('actor-filter').addEventListener('input', renderTree)

// --- event log ------------------------------------------------------------------------
const logRows = []
function logFilterMatches (row) {
  const filter = $('event-filter').value.trim().toLowerCase()
  if (!$('show-internal').checked && row.dataset.internal === '1') return false
  if (!$('show-snapshots').checked && row.dataset.kind === 'snapshot') return false
  return filter === '' || row.dataset.search.includes(filter)
}
function applyLogFilter () {
  for (const row of logRows) row.hidden = !logFilterMatches(row)
}
for (const id of ['event-filter', 'show-internal', 'show-snapshots']) $(id).addEventListener('input', applyLogFilter)

function time (at) {
  const d = new Date(at)
  return `${d.toLocaleTimeString()}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

function logRecord (record) {
  if ($('pause').checked) return
  let row
  if (record.kind === 'event') {
    row = el('tr', {},
      el('td', { class: 'muted' }, time(record.at)),
      el('td', {}, record.sourceLabel ?? ''),
      el('td', {}, record.targetLabel),
      el('td', { class: 'mono' }, record.event),
      el('td', { class: 'payload' }, record.payload ?? ''))
    row.dataset.search = `${record.sourceLabel ?? ''} ${record.targetLabel} ${record.event} ${record.payload ?? ''}`.toLowerCase()
    row.dataset.internal = record.event.startsWith('xstate.') ? '1' : '0'
  } else if (record.kind === 'snapshot') {
    const a = actors.get(record.sessionId)
    if (a?.machine == null) return
    row = el('tr', {},
      el('td', { class: 'muted' }, time(record.at)),
      el('td', {}, ''),
      el('td', {}, a.label),
      el('td', { class: 'mono' }, `→ ${stateOf(record)}`),
      el('td', { class: 'payload' }, `after ${record.event}`))
    row.dataset.search = `${a.label} ${stateOf(record)} ${record.event}`.toLowerCase()
    row.dataset.internal = '0'
  } else {
    return
  }
  row.dataset.kind = record.kind
  row.hidden = !logFilterMatches(row)
  $('events').prepend(row)
  logRows.push(row)
  if (logRows.length > 1000) logRows.shift().remove()
  $('event-count').textContent = `(${logRows.length} shown at most 1000)`
}

// --- records from the peer ------------------------------------------------------------
function apply (record, live) {
  if (record.kind === 'actor') {
    const existing = actors.get(record.actor.sessionId)
    actors.set(record.actor.sessionId, { ...existing, ...record.actor })
    if (existing == null && record.actor.machine != null && !machines.has(record.actor.machine)) {
      loadMachines().catch(() => { /* the next new actor tries again */ })
    }
    renderTree()
  } else if (record.kind === 'snapshot') {
    const a = actors.get(record.sessionId)
    if (a == null) return
    const before = stateOf(a)
    a.value = record.value
    a.state = record.state
    a.active = record.active
    a.status = record.status
    const changed = before !== stateOf(record)
    if (a.machine != null) updateCard(a, live && changed)
    if (changed) renderTree()
  } else if (record.kind === 'stopped') {
    const a = actors.get(record.sessionId)
    actors.delete(record.sessionId)
    removeCard(record.sessionId)
    renderTree()
    if (a == null) return
  }
  if (live) logRecord(record)
}

let machinesLoading
async function loadMachines () {
  machinesLoading ??= (async () => {
    let list
    try {
      ({ machines: list } = await api.get('/api/machines'))
    } finally {
      machinesLoading = undefined
    }
    for (const m of list) machines.set(m.id, m)
    // redraw the cards that waited for their machine
    for (const a of actors.values()) if (a.machine != null) updateCard(a, false)
    return list
  })()
  return await machinesLoading
}

async function drawDefinitions (list) {
  $('machine-count').textContent = `(${list.length})`
  const box = $('definitions')
  box.replaceChildren()
  for (const m of list) {
    const diagram = el('div', { class: 'diagram' })
    box.append(el('div', { class: 'card actor', dataset: { definition: m.id } },
      el('h3', {}, m.id, el('span', { class: 'muted' }, m.owner)), diagram))
    try {
      diagram.innerHTML = await render(m.mermaid)
    } catch (err) {
      diagram.textContent = `cannot draw: ${err.message}`
    }
  }
}

if (requireToken($('main'))) {
  $('nav-inspector').href = link('/inspector')
  $('nav-dashboard').href = link('/')
  mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral', state: { useMaxWidth: true } })
  const list = await loadMachines()
  events({
    inspect: true,
    onStatus: (live) => { $('live').classList.toggle('live', live) },
    onEvent: (event, data) => {
      if (event === 'inspect-init') {
        actors.clear()
        for (const sessionId of [...cards.keys()]) removeCard(sessionId)
        for (const a of data.actors) actors.set(a.sessionId, a)
        for (const a of data.actors) if (a.machine != null) updateCard(a, false)
        for (const r of data.recent) logRecord(r)
        renderTree()
      } else if (event === 'inspect') {
        apply(data, true)
      }
    }
  })
  void drawDefinitions(list)
}
