import { describe, expect, it } from 'vitest'
import * as discovery from '../src/index.js'

describe('public API of @npp/discovery', () => {
  it('exports exactly these names (a change here is a change of the public API)', () => {
    expect(Object.keys(discovery).sort()).toEqual([
      'ANNOUNCE_TYPE', 'AnnouncementSchema', 'DiscoveryError', 'DiscoveryNotStartedError', 'InvalidDiscoveryOptionError', 'InvalidInviteError',
      'ProfileSchema', 'TombstoneSchema', 'UnknownPendingError', 'announcementMachine', 'createDiscovery', 'discoveryMachine', 'peerMachine'
    ])
  })
})
