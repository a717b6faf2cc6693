import { ApiError, NoRunningPeerError } from '../errors.js'
import { locatePeer } from '../repo.js'
import type { IncomingMessage } from 'node:http'

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

  /**
   * One request with Node's own HTTP client. Not `fetch`: it loads undici (~12 MB and
   * ~30 ms), which a short command does not need. Not `import 'node:http'` either: an
   * ES module namespace of `node:http` reads its lazy `WebSocket` export, which loads
   * undici all the same; `getBuiltinModule` returns the CommonJS exports as they are.
   */
  private async send (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const http = process.getBuiltinModule('node:http')
    const payload = body === undefined ? undefined : JSON.stringify(body)
    let response: IncomingMessage
    try {
      response = await new Promise<IncomingMessage>((resolve, reject) => {
        const request = http.request(`${this.url}${path}`, {
          method,
          headers: {
            Authorization: `Bearer ${this.token}`,
            ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) })
          },
          ...(signal == null ? {} : { signal })
        }, resolve)
        request.on('error', reject)
        request.end(payload)
      })
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw new NoRunningPeerError(this.repo, `${this.url} does not answer`)
    }
    const status = response.statusCode ?? 0
    if (status < 200 || status > 299) {
      let name = 'HttpError'
      let message = `${method} ${path} failed with HTTP ${status}`
      try {
        const parsed = JSON.parse(await text(response)) as { error?: { name?: string, message?: string } }
        if (parsed.error?.message != null) message = parsed.error.message
        if (parsed.error?.name != null) name = parsed.error.name
      } catch {
        // not JSON: keep the generic message
      }
      throw new ApiError(status, name, message)
    }
    return response
  }

  async request<T> (method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body)
    return JSON.parse(await text(response)) as T
  }

  async get<T> (path: string): Promise<T> { return await this.request<T>('GET', path) }
  async post<T> (path: string, body?: unknown): Promise<T> { return await this.request<T>('POST', path, body ?? {}) }
  async put<T> (path: string, body?: unknown): Promise<T> { return await this.request<T>('PUT', path, body ?? {}) }
  async delete<T> (path: string): Promise<T> { return await this.request<T>('DELETE', path) }

  /** POST and read the newline-delimited JSON answer (parsed with it-ndjson) line by line as it arrives */
  async * lines<T> (path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    const response = await this.send('POST', path, body, signal)
    // loaded by the commands that stream (short commands do without)
    const { parse: parseNdjson } = await import('it-ndjson')
    yield * parseNdjson<T>(response, { maxMessageLength: MAX_MESSAGE_CHARS })
  }

  /**
   * Follow the peer's server-sent events (parsed with eventsource-parser) until
   * `signal` aborts; yields `{ event, data }`. `inspect` adds the inspector's stream.
   */
  async * events (options: { inspect?: boolean, signal?: AbortSignal } = {}): AsyncGenerator<{ event: string, data: unknown }> {
    const response = await this.send('GET', `/api/events${options.inspect === true ? '?inspect=1' : ''}`, undefined, options.signal)
    const { EventSourceParserStream } = await import('eventsource-parser/stream')
    const { Readable } = process.getBuiltinModule('node:stream')
    const messages = (Readable.toWeb(response) as ReadableStream<Uint8Array>)
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

/** The whole body of a response, as text */
async function text (response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
