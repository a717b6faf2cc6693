import { ApiError, NoRunningPeerError } from '../errors.js'
import { locatePeer } from '../repo.js'

/** The lines of a streamed response body as they arrive */
async function * readLines (response: Response): AsyncGenerator<string> {
  if (response.body == null) return
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        yield buffer.slice(0, i).replace(/\r$/, '')
        buffer = buffer.slice(i + 1)
      }
    }
    if (buffer !== '') yield buffer
  } finally {
    reader.releaseLock()
  }
}

/** The control API of a running peer, as the CLI (and the demo) use it */
export class ApiClient {
  constructor (readonly url: string, private readonly token: string, readonly repo: string) {}

  /** The client of the peer running in `repo`; throws {@link NoRunningPeerError} */
  static async forRepo (repo: string): Promise<ApiClient> {
    const { info, token } = await locatePeer(repo)
    return new ApiClient(info.url, token, repo)
  }

  private async fetch (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    let response: Response
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' })
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal == null ? {} : { signal })
      })
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw new NoRunningPeerError(this.repo, `${this.url} does not answer`)
    }
    if (!response.ok) {
      let name = 'HttpError'
      let message = `${method} ${path} failed with HTTP ${response.status}`
      try {
        const parsed = await response.json() as { error?: { name?: string, message?: string } }
        if (parsed.error?.message != null) message = parsed.error.message
        if (parsed.error?.name != null) name = parsed.error.name
      } catch {
        // not JSON: keep the generic message
      }
      throw new ApiError(response.status, name, message)
    }
    return response
  }

  async request<T> (method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(method, path, body)
    return await response.json() as T
  }

  async get<T> (path: string): Promise<T> { return await this.request<T>('GET', path) }
  async post<T> (path: string, body?: unknown): Promise<T> { return await this.request<T>('POST', path, body ?? {}) }
  async put<T> (path: string, body?: unknown): Promise<T> { return await this.request<T>('PUT', path, body ?? {}) }
  async delete<T> (path: string): Promise<T> { return await this.request<T>('DELETE', path) }

  /** POST and read the newline-delimited JSON answer line by line as it arrives */
  async * lines<T> (path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    const response = await this.fetch('POST', path, body, signal)
    for await (const line of readLines(response)) {
      if (line.trim() !== '') yield JSON.parse(line) as T
    }
  }

  /**
   * Follow the peer's server-sent events until `signal` aborts; yields `{ event, data }`.
   * `inspect` adds the inspector's stream.
   */
  async * events (options: { inspect?: boolean, signal?: AbortSignal } = {}): AsyncGenerator<{ event: string, data: unknown }> {
    const response = await this.fetch('GET', `/api/events${options.inspect === true ? '?inspect=1' : ''}`, undefined, options.signal)
    let event = 'message'
    let data: string[] = []
    try {
      for await (const line of readLines(response)) {
        if (line === '') {
          if (data.length > 0) yield { event, data: JSON.parse(data.join('\n')) as unknown }
          event = 'message'
          data = []
        } else if (line.startsWith('event:')) {
          event = line.slice(6).trim()
        } else if (line.startsWith('data:')) {
          data.push(line.slice(5).replace(/^ /, ''))
        }
      }
    } catch (err) {
      if (options.signal?.aborted === true) return
      throw err
    }
  }
}
