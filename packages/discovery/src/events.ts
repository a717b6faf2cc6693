/** What discovery's machines send each other and emit (shared by the machine files) */
import type { InviteProof } from './consent.js'
import type { RejectionReason } from './schema.js'
import type { BusEvent, CompanionProfile } from '@npp/bus'
import type { KeyValueDatabase } from '@npp/transport'

/** Bus events discovery emits (forwarded to the bus in one place, `createDiscovery`) */
export type DiscoveryEmitted = BusEvent<'db:announced' | 'db:replicated' | 'discovery:rejected' | 'discovery:retrying' | 'companion:discovered' | 'companion:pending' | 'companion:declined'>

/** A child asks its parent to emit a bus event */
export interface ChildEmit { type: 'child.emit', event: DiscoveryEmitted }

/** A peer's well-formed announcement, passed on by its peer actor (`attempt` > 0: a retry) */
export interface PeerAnnouncement { type: 'peer.announcement', from: string, userDb: string, attempt?: number, invite?: InviteProof }

/** What an announcement child tells its parent */
export type AnnouncementReport =
  | { type: 'validation.opened', userDb: string, db: KeyValueDatabase }
  | { type: 'validation.accepted', userDb: string, from: string, db: KeyValueDatabase, profile: CompanionProfile, multiaddrs: string[] }
  /** `transient`: it failed for load or time, not for what the db is: worth another attempt */
  | { type: 'validation.rejected', userDb: string, from: string, reason: RejectionReason, detail: string, transient: boolean }

export const rejected = (from: string | undefined, userDb: string | undefined, reason: RejectionReason, detail: string): DiscoveryEmitted =>
  ({ type: 'discovery:rejected', from, userDb, reason, detail })
