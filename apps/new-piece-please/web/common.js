/* global document, location, history, Node */
// Shared by the dashboard and the inspector: the access token, API calls, the live
// event stream and a tiny DOM helper. Plain ES modules, no build step: the event
// stream is parsed with eventsource-parser, which the peer serves from node_modules.
import { EventSourceParserStream } from '/vendor/eventsource-parser/stream.js'

const TOKEN_KEY = 'npp-token'

/**
 * The API token. `npp start` prints the dashboard URL with the token in the URL
 * fragment (never sent to any server); we keep it in this tab's sessionStorage and
 * remove it from the address bar.
 */
export function token () {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (match != null) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]))
    history.replaceState(null, '', location.pathname + location.search)
  }
  return sessionStorage.getItem(TOKEN_KEY)
}

/** A link to another page of this dashboard that carries the token along */
export function link (path) {
  const t = token()
  return t == null ? path : `${path}#token=${encodeURIComponent(t)}`
}

export class ApiFailure extends Error {
  constructor (status, name, message) {
    super(message)
    this.status = status
    this.name = name
  }
}

async function call (method, path, body, signal) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token() ?? ''}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal
  })
  if (!response.ok) {
    let name = 'HttpError'
    let message = `${method} ${path}: HTTP ${response.status}`
    try {
      const parsed = await response.json()
      if (parsed?.error?.message != null) message = parsed.error.message
      if (parsed?.error?.name != null) name = parsed.error.name
    } catch { /* not JSON */ }
    throw new ApiFailure(response.status, name, message)
  }
  return response
}

export const api = {
  get: async (path) => await (await call('GET', path)).json(),
  post: async (path, body = {}) => await (await call('POST', path, body)).json(),
  put: async (path, body = {}) => await (await call('PUT', path, body)).json(),
  delete: async (path) => await (await call('DELETE', path)).json()
}

/** Read a response body line by line as it arrives */
async function * lines (response) {
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    let i
    while ((i = buffer.indexOf('\n')) >= 0) {
      yield buffer.slice(0, i).replace(/\r$/, '')
      buffer = buffer.slice(i + 1)
    }
  }
  if (buffer !== '') yield buffer
}

/** POST and yield each line of the newline-delimited JSON answer as it arrives */
export async function * ndjson (path, body) {
  const response = await call('POST', path, body)
  for await (const line of lines(response)) {
    if (line.trim() !== '') yield JSON.parse(line)
  }
}

/**
 * Follow the peer's server-sent events (read with fetch: EventSource cannot send
 * the Authorization header). Reconnects after a drop. `onStatus(live)` tells
 * whether the stream is open.
 */
export function events ({ inspect = false, onEvent, onStatus = () => {} }) {
  let stopped = false
  const controller = new AbortController()
  const run = async () => {
    while (!stopped) {
      try {
        const response = await call('GET', `/api/events${inspect ? '?inspect=1' : ''}`, undefined, controller.signal)
        onStatus(true)
        const reader = response.body
          .pipeThrough(new TextDecoderStream())
          .pipeThrough(new EventSourceParserStream())
          .getReader()
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          onEvent(value.event ?? 'message', JSON.parse(value.data))
        }
      } catch (err) {
        if (err instanceof ApiFailure && err.status === 401) { onStatus(false, err); return }
      }
      onStatus(false)
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }
  void run()
  return () => { stopped = true; controller.abort() }
}

/** Create an element: el('td', { class: 'num', dataset: { x: 1 } }, 'text', child) */
export function el (tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue
    if (k === 'class') node.className = v
    else if (k === 'dataset') Object.assign(node.dataset, v)
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return node
}

/** A short peer id for display */
export function short (id, keep = 6) {
  if (typeof id !== 'string') return ''
  return id.length <= keep * 2 + 3 ? id : `${id.slice(0, keep + 2)}…${id.slice(-keep)}`
}

/** Stop here with a message when the page has no token */
export function requireToken (container) {
  if (token() != null) return true
  container.replaceChildren(el('div', { class: 'card' },
    el('h2', {}, 'Access token needed'),
    el('p', {}, 'Open the dashboard through the URL that ', el('code', {}, 'npp start'), ' printed: it carries the access token after the #.'),
    el('p', { class: 'muted' }, 'Lost it? ', el('code', {}, 'npp id'), ' prints it again.')
  ))
  return false
}
