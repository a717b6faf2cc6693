import type { OrbitDB } from '@npp/transport'

export type { OrbitDB }

/** What the hostile peer hands to createOrbitDB: a Helia node of its own */
export interface CreateOrbitDBOptionsLike {
  ipfs: unknown
  id?: string
  directory?: string
}
