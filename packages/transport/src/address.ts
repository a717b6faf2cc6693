/**
 * The spelling of an OrbitDB address, checked without loading OrbitDB: a
 * process that only talks to a running peer (the CLI, an API client)
 * validates addresses with this and never pays for libp2p, Helia or OrbitDB.
 */
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { z } from 'zod'

/**
 * An OrbitDB address in the canonical form OrbitDB itself produces: `/orbitdb/`
 * + a base58btc CIDv1 (`zdpu...`). One spelling per db, so the same db named
 * twice is recognised as the same. For validating untrusted input.
 */
export const OrbitDBAddressSchema = z.string()
  .regex(/^\/orbitdb\/z[1-9A-HJ-NP-Za-km-z]{30,120}$/, 'expected /orbitdb/<base58btc CID>')
  .refine((address) => {
    try {
      return CID.parse(address.slice('/orbitdb/'.length), base58btc).version === 1
    } catch {
      return false
    }
  }, 'not a valid OrbitDB address')
