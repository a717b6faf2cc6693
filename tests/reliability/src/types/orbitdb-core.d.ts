// The hostile peer uses @orbitdb/core directly (not our packages); the types are
// borrowed from our facade or declared narrowly here, so that nothing here is `any`.
declare module '@orbitdb/core' {
  import type { OrbitDB, CreateOrbitDBOptionsLike } from '../orbitdb-types.js'
  export const createOrbitDB: (options: CreateOrbitDBOptionsLike) => Promise<OrbitDB>
  export const KeyValue: unknown
  export const Documents: unknown
  /** OrbitDB's own (unhardened) IPFS access controller */
  export const IPFSAccessController: ((options?: unknown) => (args: unknown) => Promise<Record<string, unknown>>) & { type: string }
  /** Register an access controller under its `type` (process-wide) */
  export const useAccessController: (controller: ((options?: unknown) => unknown) & { type: string }) => void
  export const Entry: {
    encode(entry: object): Promise<{ hash: string, bytes: Uint8Array }>
  }
}
