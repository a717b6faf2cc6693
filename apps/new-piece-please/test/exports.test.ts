import { describe, expect, it } from 'vitest'
import * as app from '../src/index.js'

describe('the app\'s public API', () => {
  // A change to this list is a change to what embedding programs can rely on: make it on purpose.
  it('exports what an embedding program needs, and nothing else', () => {
    expect(Object.keys(app).sort()).toEqual([
      'ApiClient',
      'ApiError',
      'AppError',
      'ComponentFailedError',
      'ControlServerError',
      'LoopbackOnlyError',
      'NoRunningPeerError',
      'PeerFailedError',
      'createPeer',
      'defaultRepo',
      'ensureToken',
      'rotateToken',
      'startControlServer'
    ])
  })
})
