// The hostile peer uses @orbitdb/core directly (not our packages); the types are
// borrowed from our facade so that nothing here is `any`.
declare module '@orbitdb/core' {
  import type { OrbitDB, CreateOrbitDBOptionsLike } from '../orbitdb-types.js'
  export const createOrbitDB: (options: CreateOrbitDBOptionsLike) => Promise<OrbitDB>
  export const KeyValue: unknown
  export const Documents: unknown
}
