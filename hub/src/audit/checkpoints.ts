import type { KeyObject } from 'node:crypto'
import { CompactSign, compactVerify } from 'jose'
import type { SigningKeyStore } from '../auth/signing-keys.ts'
import type { Database, Tx } from '../db/database.ts'
import { canonicalJson } from './chain.ts'

/**
 * Signed checkpoints: "tenant T's chain had seq S with hash H at time A", as a compact JWS signed
 * with the hub's Ed25519 key. Someone who can rewrite the database but not reach the master key
 * (which seals the signing keys) cannot forge one, so cutting records off a chain's end, or
 * rewriting it wholesale, no longer verifies. `prune` checkpoints anchor a chain whose start was
 * dropped by retention.
 */
export type CheckpointKind = 'periodic' | 'prune'

export interface CheckpointClaims {
  tid: string
  seq: number
  hash: string
  kind: CheckpointKind
  at: string
}

const TYPE = 'vms-audit-checkpoint'

export interface Signer {
  kid: string
  privateKey: KeyObject
}

export async function signCheckpoint(signer: Signer, claims: CheckpointClaims): Promise<string> {
  const { kid, privateKey } = signer
  return new CompactSign(new TextEncoder().encode(canonicalJson(claims)))
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: TYPE })
    .sign(privateKey)
}

/** The claims of a genuine checkpoint signature, or undefined. */
export async function readCheckpoint(
  keys: SigningKeyStore,
  jws: string,
): Promise<CheckpointClaims | undefined> {
  try {
    const { payload, protectedHeader } = await compactVerify(
      jws,
      async (header) => {
        const key = header.kid ? await keys.historicKey(header.kid) : undefined
        if (!key) throw new Error('unknown key')
        return key
      },
      { algorithms: ['EdDSA'] },
    )
    if (protectedHeader.typ !== TYPE) return undefined
    return JSON.parse(new TextDecoder().decode(payload)) as CheckpointClaims
  } catch {
    return undefined
  }
}

/** `signer` is fetched before the transaction: signing must never reach for the database. */
export async function insertCheckpoint(
  tx: Tx,
  signer: Signer,
  entry: { tenantId: string; seq: number; hash: string; kind: CheckpointKind },
): Promise<void> {
  const at = new Date().toISOString()
  const signature = await signCheckpoint(signer, {
    tid: entry.tenantId,
    seq: entry.seq,
    hash: entry.hash,
    kind: entry.kind,
    at,
  })
  await tx.execute(
    'insert into audit_checkpoints (tenant_id, seq, hash, kind, created_at, signature) values (?, ?, ?, ?, ?, ?)',
    [entry.tenantId, entry.seq, entry.hash, entry.kind, at, signature],
  )
}

/** Checkpoints every chain whose head moved since its last checkpoint. Returns how many. */
export async function takeCheckpoints(db: Database, keys: SigningKeyStore): Promise<number> {
  const signer = await keys.signingKey()
  return db.withSystem(async (tx) => {
    const heads: { tenant_id: string; seq: string; hash: string }[] = await tx.execute(
      `select h.tenant_id, h.seq, h.hash from audit_chain_heads h
        where h.seq > coalesce((select max(c.seq) from audit_checkpoints c where c.tenant_id = h.tenant_id), 0)`,
    )
    for (const h of heads) {
      await insertCheckpoint(tx, signer, {
        tenantId: h.tenant_id,
        seq: Number(h.seq),
        hash: h.hash,
        kind: 'periodic',
      })
    }
    return heads.length
  })
}
