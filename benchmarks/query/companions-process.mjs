import { fileURLToPath } from 'node:url'
import { JsonLinesChild } from '@npp/testkit'

export { Cleanups, percentile, round, tempDir } from '@npp/testkit'

/** companions.mjs (N companion peers with catalogs) in a child process, driven with JSON lines */
export class Companions extends JsonLinesChild {
  constructor (count, base, tag = 'c') {
    super(fileURLToPath(new URL('./companions.mjs', import.meta.url)), [String(count), base, tag], {
      name: 'companions',
      onEvent: (e) => { if (e.event === 'error') process.stderr.write(`companions: ${e.name}: ${e.message}\n`) }
    })
  }
}
