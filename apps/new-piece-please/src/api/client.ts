import { ApiError, NoRunningPeerError } from '../errors.js'
import { locatePeer } from '../repo.js'

/**
 * The most a client buffers of one streamed message (a query line, an event)
 * before it gives up on the stream: far above anything a peer sends.
 */
const MAX_MESSAGE_CHARS = 64 * 1024 * 1024

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

  /** POST and read the newline-delimited JSON answer (parsed with it-ndjson) line by line as it arrives */
  async * lines<T> (path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    const response = await this.fetch('POST', path, body, signal)
    if (response.body == null) return
    // loaded by the commands that stream (short commands do without)
    const { parse: parseNdjson } = await import('it-ndjson')
    yield * parseNdjson<T>(response.body, { maxMessageLength: MAX_MESSAGE_CHARS })
  }

  /**
   * Follow the peer's server-sent events (parsed with eventsource-parser) until
   * `signal` aborts; yields `{ event, data }`. `inspect` adds the inspector's stream.
   */
  async * events (options: { inspect?: boolean, signal?: AbortSignal } = {}): AsyncGenerator<{ event: string, data: unknown }> {
    const response = await this.fetch('GET', `/api/events${options.inspect === true ? '?inspect=1' : ''}`, undefined, options.signal)
    if (response.body == null) return
    const { EventSourceParserStream } = await import('eventsource-parser/stream')
    const messages = response.body
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream({ onError: 'terminate', maxBufferSize: MAX_MESSAGE_CHARS }))
    try {
      for await (const { event, data } of messages) {
        yield { event: event ?? 'message', data: JSON.parse(data) as unknown }
      }
    } catch (err) {
      if (options.signal?.aborted === true) return
      throw err
    }
  }
}
