import { backoffDelay, describeIssues } from '@npp/kit'
import { assign, sendParent, setup } from 'xstate'
import { announce } from './peer.actors.js'
import { rejected } from './events.js'
import { AnnouncementSchema } from './schema.js'
import type { InviteProof } from './consent.js'
import type { ChildEmit, PeerAnnouncement } from './events.js'
import type { RateLimit, RetryOptions } from './options.js'
import type { Transport } from '@npp/transport'

export interface PeerInput {
  peerId: string
  transport: Transport
  /** Address of our own `user` db, the one we announce */
  userDb: string
  rateLimit: RateLimit
  announceRetry: RetryOptions
  /** Proof of an invite of this peer's, sent with our announcement */
  invite?: InviteProof
}

export interface PeerContext extends PeerInput {
  /** Messages in the current rate-limit window */
  count: number
  /** Failed attempts to send our announcement */
  failures: number
  /** Why our announcement could not be sent last (e.g. the peer does not run New Piece, Please!) */
  announceError: string | undefined
}

export type PeerEvent =
  | { type: 'message', payload: Record<string, unknown> }
  /** Announce again, now with the proof of this peer's invite */
  | { type: 'invite', invite: InviteProof }

/** Id of the child actor of a connected peer */
export const peerActorId = (peerId: string): string => `peer-${peerId}`

const userDbOf = (payload: Record<string, unknown>): string | undefined =>
  typeof payload.userDb === 'string' ? payload.userDb.slice(0, 200) : undefined

/**
 * A connected peer, in two parallel regions: `announcement` sends our own
 * `user` db address once (as soon as the peer is subscribed to its topic); a
 * failed send is retried with backoff and jitter (`announceRetry`), for
 * `attempts` in all. The parent stops this child when the peer disconnects,
 * which ends the retries. `limiter` passes at most `rateLimit.announcements`
 * of the peer's messages per `rateLimit.windowMs` on to the parent (a fixed
 * window that starts with the first message) after checking their shape.
 */
export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    input: {} as PeerInput,
    events: {} as PeerEvent
  },
  actors: { announce },
  delays: {
    rateWindow: ({ context }) => context.rateLimit.windowMs,
    announceRetry: ({ context }) => backoffDelay(context.failures - 1, context.announceRetry)
  },
  guards: {
    /** Another attempt is left after the one that just failed */
    mayRetry: ({ context }) => context.failures + 1 < context.announceRetry.attempts,
    overLimit: ({ context }) => context.count >= context.rateLimit.announcements,
    wellFormed: ({ event }) => event.type === 'message' && AnnouncementSchema.safeParse(event.payload).success
  },
  actions: {
    count: assign({ count: ({ context }) => context.count + 1 }),
    recordFailure: assign(({ context }, params: { error: unknown }) => ({
      failures: context.failures + 1,
      announceError: params.error instanceof Error ? params.error.message : String(params.error)
    })),
    resetCount: assign({ count: 0 }),
    recordInvite: assign(({ event }) => event.type === 'invite' ? { invite: event.invite, failures: 0 } : {}),
    forward: sendParent(({ context, event }): PeerAnnouncement => {
      const { userDb, invite } = AnnouncementSchema.parse(event.type === 'message' ? event.payload : {})
      return { type: 'peer.announcement', from: context.peerId, userDb, ...(invite == null ? {} : { invite }) }
    }),
    rejectShape: sendParent(({ context, event }): ChildEmit => {
      const payload = event.type === 'message' ? event.payload : {}
      const result = AnnouncementSchema.safeParse(payload)
      const detail = result.success ? 'malformed announcement' : describeIssues(result.error)
      return { type: 'child.emit', event: rejected(context.peerId, userDbOf(payload), 'bad-shape', detail) }
    }),
    rejectRate: sendParent(({ context, event }): ChildEmit => ({
      type: 'child.emit',
      event: rejected(context.peerId, userDbOf(event.type === 'message' ? event.payload : {}), 'rate-limited',
        `more than ${context.rateLimit.announcements} announcements within ${context.rateLimit.windowMs} ms`)
    }))
  }
}).createMachine({
  id: 'peer',
  type: 'parallel',
  context: ({ input }) => ({ ...input, count: 0, failures: 0, announceError: undefined }),
  states: {
    announcement: {
      initial: 'sending',
      on: { invite: { target: '.sending', reenter: true, actions: 'recordInvite' } },
      states: {
        sending: {
          invoke: {
            src: 'announce',
            input: ({ context }) => ({ transport: context.transport, peerId: context.peerId, userDb: context.userDb, ...(context.invite == null ? {} : { invite: context.invite }) }),
            onDone: 'sent',
            onError: [
              { guard: 'mayRetry', target: 'waiting', actions: { type: 'recordFailure', params: ({ event }) => ({ error: event.error }) } },
              { target: 'failed', actions: { type: 'recordFailure', params: ({ event }) => ({ error: event.error }) } }
            ]
          }
        },
        waiting: {
          after: { announceRetry: 'sending' }
        },
        sent: {},
        /** every attempt failed: no more on this connection (the next connection starts over) */
        failed: {}
      }
    },
    limiter: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            message: [
              { guard: 'wellFormed', target: 'window', actions: ['count', 'forward'] },
              { target: 'window', actions: ['count', 'rejectShape'] }
            ]
          }
        },
        window: {
          after: { rateWindow: { target: 'idle', actions: 'resetCount' } },
          on: {
            message: [
              { guard: 'overLimit', actions: 'rejectRate' },
              { guard: 'wellFormed', actions: ['count', 'forward'] },
              { actions: ['count', 'rejectShape'] }
            ]
          }
        }
      }
    }
  }
})
