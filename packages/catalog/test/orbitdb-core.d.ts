// @orbitdb/core ships JavaScript only; the test that forges an entry casts what it uses.
declare module '@orbitdb/core' {
  export const Entry: unknown
}
