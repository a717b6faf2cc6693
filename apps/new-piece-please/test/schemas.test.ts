import { LIMITS, PieceInputSchema, QueryOptionsSchema } from '@npp/catalog'
import { describe, expect, it } from 'vitest'
import { AddPieceBody, CidString, Instrument, ProfileField, ProfileValue, QueryBody } from '../src/api/schemas.js'

const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

describe('the API and CLI schemas', () => {
  it('accept exactly what the catalog accepts: its limits, not their own', () => {
    const piece = (fields: Record<string, unknown>): boolean => AddPieceBody.safeParse({ hash: CID, instrument: 'violin', ...fields }).success
    const catalogPiece = (fields: Record<string, unknown>): boolean => PieceInputSchema.safeParse({ hash: CID, instrument: 'violin', ...fields }).success
    for (const [field, max] of [['instrument', LIMITS.instrument], ['title', LIMITS.title], ['composer', LIMITS.composer], ['notes', LIMITS.notes]] as const) {
      for (const length of [max, max + 1]) {
        const fields = { [field]: 'x'.repeat(length) }
        expect(piece(fields), `${field} of ${length}`).toBe(catalogPiece(fields))
      }
      expect(piece({ [field]: 'x'.repeat(max + 1) }), field).toBe(false)
    }
    expect(Instrument.safeParse('  ').success).toBe(false)

    for (const timeoutMs of [LIMITS.queryTimeoutMs, LIMITS.queryTimeoutMs + 1, 300_000]) {
      expect(QueryBody.safeParse({ timeoutMs }).success, `timeoutMs ${timeoutMs}`).toBe(QueryOptionsSchema.safeParse({ timeoutMs }).success)
    }
    expect(QueryBody.safeParse({ timeoutMs: 300_000 }).success).toBe(true)
    expect(QueryBody.safeParse({ text: 'x'.repeat(LIMITS.queryText + 1) }).success).toBe(false)

    expect(ProfileField.safeParse('x'.repeat(LIMITS.profileField)).success).toBe(true)
    expect(ProfileField.safeParse('x'.repeat(LIMITS.profileField + 1)).success).toBe(false)
    expect(ProfileField.safeParse('a/b').success).toBe(false)
    expect(ProfileValue.safeParse({ value: ['piano', 'violin'] }).success).toBe(true)
    expect(ProfileValue.safeParse({ value: 'x'.repeat(LIMITS.profileValueBytes) }).success).toBe(false)
    expect(ProfileValue.safeParse({}).success).toBe(false)
  })

  it('read CIDs in the catalog\'s canonical form, with the reason when they are not CIDs', () => {
    expect(CidString.parse(` ${CID} `)).toBe(CID)
    const bad = CidString.safeParse('not-a-cid')
    expect(bad.success).toBe(false)
    expect(bad.error?.issues[0]?.message).toMatch(/not a valid CID/)
  })
})
