// @orbitdb/core ships JavaScript only. Its exports are declared `unknown` here and
// given their real types in one place, ../orbitdb.ts, so nothing untyped leaks.
declare module '@orbitdb/core' {
  export const createOrbitDB: unknown
  export const KeyValue: unknown
  export const Documents: unknown
  export const Events: unknown
  export const IPFSAccessController: unknown
  export const isValidAddress: unknown
  export const useAccessController: unknown
  export const parseAddress: unknown
  export const Entry: unknown
}
