// `@orbitdb/core` 4 ships no types; the stock peer casts what it uses (see ../stock.ts)
declare module '@orbitdb/core' {
  const createOrbitDB: unknown
  const Documents: unknown
}
