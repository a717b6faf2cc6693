/** The side effect of one connected peer's actor: sending it our announcement */
import { fromPromise } from 'xstate'
import { ANNOUNCE_TYPE } from './schema.js'
import type { InviteProof } from './consent.js'
import type { Transport } from '@npp/transport'

export interface AnnounceInput {
  transport: Transport
  peerId: string
  userDb: string
  /** Proof of an invite of this peer's, sent along (see consent.ts) */
  invite?: InviteProof
}

/** Send our announcement; `transport.send` waits until the peer is subscribed to its topic */
export const announce = fromPromise<void, AnnounceInput>(async ({ input, signal }) => {
  await input.transport.send(input.peerId, { type: ANNOUNCE_TYPE, v: 1, userDb: input.userDb, ...(input.invite == null ? {} : { invite: input.invite }) }, { signal })
})
