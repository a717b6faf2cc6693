// Checking entry signatures: every entry OrbitDB joins is verified once. Compares
// OrbitDB's own check (libp2p's secp256k1 verify, @noble/curves: what a stock
// @orbitdb/core peer runs) with our transport's identity.verify (libsecp256k1 in front,
// same acceptance rule), on the same signed entries, in the same run.
//
// Env: SIGNATURES (1000), REPS (5). Prints one JSON object on its last line.
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { createBus } from '@npp/bus'
import { Cleanups, percentile, round, tempDir } from '@npp/testkit'
import { createTransport } from '@npp/transport'
import { toString as toHex, fromString as fromHex } from 'uint8arrays'

const SIGNATURES = Number(process.env.SIGNATURES ?? 1000)
const REPS = Number(process.env.REPS ?? 5)

const cleanups = new Cleanups()
try {
  const transport = createTransport({ bus: createBus(), repo: await tempDir(cleanups, 'bench-verify') })
  await transport.start()
  cleanups.add(async () => { await transport.stop() })
  const ours = transport.orbitdb.identity.verify

  // entries as OrbitDB signs them: one writer key, different bytes each
  const key = await generateKeyPair('secp256k1')
  const publicKey = toHex(key.publicKey.raw, 'base16')
  const signed = []
  for (let i = 0; i < SIGNATURES; i++) {
    const data = new TextEncoder().encode(JSON.stringify({ id: 'log', payload: { op: 'PUT', key: `piece-${i}` }, clock: { time: i } }))
    signed.push({ data, signature: toHex(await key.sign(data), 'base16') })
  }
  // OrbitDB's key-store.js verifySignature (without its cache: every entry is new)
  const noble = async (signature, pk, data) => await publicKeyFromRaw(fromHex(pk, 'base16')).verify(data, fromHex(signature, 'base16'))

  const time = async (verify) => {
    const start = performance.now()
    for (const { data, signature } of signed) {
      if (!(await verify(signature, publicKey, data))) throw new Error('a valid signature was refused')
    }
    return (performance.now() - start) * 1000 / SIGNATURES
  }
  const nobleUs = []
  const opensslUs = []
  await time(noble) // warm-up
  await time(ours)
  for (let i = 0; i < REPS; i++) {
    nobleUs.push(await time(noble))
    opensslUs.push(await time(ours))
  }
  const n = percentile(nobleUs, 0.5)
  const o = percentile(opensslUs, 0.5)
  console.error(`[bench:verify] ${SIGNATURES} signatures: OrbitDB's verify ${round(n)} µs each, ours ${round(o)} µs each`)
  console.log(JSON.stringify({ name: 'verify', signatures: SIGNATURES, reps: REPS, orbitdb_us: round(n, 1), ours_us: round(o, 1), speedup: round(n / o, 2) }))
} finally {
  await cleanups.run()
}
