import { UsageError } from '../errors.js'

/** Parse `--web HOST:PORT` (host 127.0.0.1 or localhost; port 0 for a free one) */
export function parseWeb (value: string): { host: string, port: number } {
  const match = /^(127\.0\.0\.1|localhost)?:?(\d{1,5})?$/.exec(value.trim())
  const port = Number(match?.[2] ?? '0')
  if (match == null || value.trim() === '' || port > 65_535) {
    throw new UsageError(`--web ${value}: expected HOST:PORT with HOST 127.0.0.1 or localhost (the dashboard never listens on other interfaces), e.g. 127.0.0.1:8080`)
  }
  return { host: match[1] ?? '127.0.0.1', port }
}
