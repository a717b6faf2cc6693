/**
 * Every write of the catalog (our pieces, practice counters, profile, scores)
 * as one operation that the machine runs in a `write-<n>` child actor, so that
 * writes are visible in the inspector and a stop waits for them.
 */
import { randomBytes } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import type { OwnStores } from './stores.js'
import type { Piece } from './types.js'
import type { Transport } from '@npp/transport'

/** One write, validated by the facade */
export type WriteOp =
  /** Put a piece (add, replace or update) */
  | { kind: 'piece.put', piece: Piece }
  /** Remove a piece if our index has it */
  | { kind: 'piece.del', hash: string }
  /** Count one practice session */
  | { kind: 'practise', hash: string }
  | { kind: 'profile.put', field: string, value: unknown }
  | { kind: 'profile.del', field: string }
  /** Add a score file to IPFS and pin it */
  | { kind: 'score', bytes: Uint8Array }

/** What each kind of write resolves with */
export interface WriteResults {
  'piece.put': Piece
  'piece.del': boolean
  practise: number
  'profile.put': undefined
  'profile.del': undefined
  score: string
}

export type WriteKind = WriteOp['kind']

/** The output of a write actor: its kind and its result */
export type WriteOutput = { [K in WriteKind]: { kind: K, result: WriteResults[K] } }[WriteKind]

/** Child id of a write */
export function writeActorId (writeId: string): string {
  return `write-${writeId}`
}

/**
 * Run one write against our stores; each resolves once our in-memory index
 * has the change, so a read right after the write sees it. OrbitDB writes
 * take no signal (a stop waits for them); `signal` reaches the IPFS calls.
 */
export async function performWrite (stores: OwnStores, transport: Pick<Transport, 'helia'>, op: WriteOp, signal?: AbortSignal): Promise<WriteOutput> {
  switch (op.kind) {
    case 'piece.put': {
      const entry = await stores.pieces.put(op.piece)
      await stores.piecesFollower.include(entry)
      return { kind: op.kind, result: stores.pieceIndex.get(op.piece.hash) ?? op.piece }
    }
    case 'piece.del': {
      // Our index says whether the piece is there, so the DEL is appended directly:
      // `Documents.del` would check again by scanning the whole log (~250 ms per
      // 1,000 pieces).
      if (stores.pieceIndex.get(op.hash) == null) return { kind: op.kind, result: false }
      const entry = await stores.pieces.addOperation({ op: 'DEL', key: op.hash, value: null })
      await stores.piecesFollower.include(entry)
      return { kind: op.kind, result: true }
    }
    case 'practise': {
      const entry = await stores.practice.add({ hash: op.hash, nonce: randomBytes(12).toString('hex'), at: Date.now() })
      await stores.practiceFollower.include(entry)
      return { kind: op.kind, result: stores.counters.count(op.hash) }
    }
    case 'profile.put':
      await stores.user.put(op.field, op.value)
      return { kind: op.kind, result: undefined }
    case 'profile.del':
      await stores.user.del(op.field)
      return { kind: op.kind, result: undefined }
    case 'score': {
      const { helia } = transport
      const cid = await unixfs(helia).addBytes(op.bytes, { signal })
      // Pinned, so a blockstore garbage collection never drops our own scores
      if (!await helia.pins.isPinned(cid, { signal })) {
        for await (const _ of helia.pins.add(cid, { signal })) { /* walks the DAG */ }
      }
      return { kind: op.kind, result: cid.toString() }
    }
  }
}
