import { Hono } from 'hono'
import { HttpError } from '../../errors.js'
import { body, parse } from '../http.js'
import { AddPieceBody, CidString, InstrumentQuery, ProfileField, ProfileValue } from '../schemas.js'
import type { Peer } from '../../peer.js'

/** `/api/pieces`, `/api/random` and `/api/profile`: the catalog and the profile */
export function catalogRoutes ({ peer }: { peer: Peer }): Hono {
  const app = new Hono()
  const { catalog } = peer
  const withCounts = async <P extends { hash: string }>(pieces: P[]): Promise<Array<P & { practised: number }>> =>
    await Promise.all(pieces.map(async (p) => ({ ...p, practised: await catalog.practiceCount(p.hash) })))
  const notFound = (hash: string): HttpError => new HttpError('not-found', 'PieceNotFound', `no piece ${hash} in this catalog`)

  app.get('/api/pieces', async (c) => {
    const { instrument } = parse(InstrumentQuery, c.req.query())
    const pieces = instrument == null ? await catalog.all() : await catalog.byInstrument(instrument)
    return c.json({ pieces: await withCounts(pieces) })
  })
  app.post('/api/pieces', async (c) => {
    const { score, ...rest } = parse(AddPieceBody, await body(c))
    const hash = score == null ? rest.hash! : await catalog.addScore(Buffer.from(score, 'base64'))
    return c.json({ piece: await catalog.add({ ...rest, hash }) }, 201)
  })
  app.get('/api/pieces/:hash', async (c) => {
    const hash = parse(CidString, c.req.param('hash'))
    const piece = await catalog.get(hash)
    if (piece == null) throw notFound(hash)
    return c.json({ piece: { ...piece, practised: await catalog.practiceCount(hash) } })
  })
  app.delete('/api/pieces/:hash', async (c) => {
    const hash = parse(CidString, c.req.param('hash'))
    return c.json({ removed: await catalog.remove(hash) })
  })
  app.post('/api/pieces/:hash/practise', async (c) => {
    const hash = parse(CidString, c.req.param('hash'))
    if (await catalog.get(hash) == null) throw notFound(hash)
    return c.json({ hash, practised: await catalog.practise(hash) })
  })
  app.get('/api/random', async (c) => {
    const { instrument } = parse(InstrumentQuery, c.req.query())
    const piece = await catalog.random(instrument == null ? {} : { instrument })
    if (piece == null) throw new HttpError('not-found', 'NoPiece', instrument == null ? 'the catalog is empty: add a piece first' : `no ${instrument} piece in this catalog`)
    return c.json({ piece: { ...piece, practised: await catalog.practiceCount(piece.hash) } })
  })

  app.get('/api/profile', async (c) => c.json({ profile: await catalog.profile.all() }))
  app.get('/api/profile/:field', async (c) => {
    const field = parse(ProfileField, c.req.param('field'))
    const all = await catalog.profile.all()
    // own fields only: `constructor` or `__proto__` are not fields of any profile
    if (!Object.hasOwn(all, field)) throw new HttpError('not-found', 'NoSuchField', `the profile has no field "${field}"`)
    return c.json({ field, value: all[field] })
  })
  app.put('/api/profile/:field', async (c) => {
    const field = parse(ProfileField, c.req.param('field'))
    const { value } = parse(ProfileValue, await body(c))
    await catalog.profile.set(field, value)
    return c.json({ field, value })
  })
  app.delete('/api/profile/:field', async (c) => {
    const field = parse(ProfileField, c.req.param('field'))
    await catalog.profile.delete(field)
    return c.json({ field, removed: true })
  })
  return app
}
