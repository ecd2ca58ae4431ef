import type { SigningKeyStore } from '../auth/signing-keys.ts'
import type { Tx } from '../db/database.ts'
import { type AuditEventRow, type ChainRecord, GENESIS_HASH, recordHash } from './chain.ts'
import { readCheckpoint } from './checkpoints.ts'

/**
 * Verifies audit hash chains: every record's hash recomputes from its content and its
 * predecessor's hash, sequence numbers run without gaps from the genesis (or from the last
 * retention anchor), and every signed checkpoint is genuine and matches the chain, so edits,
 * deletions, insertions and cut-off tails are all found.
 */
export interface VerifyResult {
  ok: boolean
  /** Records checked. */
  checked: number
  /** The lowest id of a record that does not verify. */
  firstBadId?: string
  /** What was wrong first, in words. */
  reason?: string
  tenants: number
}

type Run = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>

const PAGE = 1000

/** `run` scopes the reads: a tenant's RLS scope for the API, the system scope for operators. */
export async function verifyAuditChains(run: Run, keys: SigningKeyStore): Promise<VerifyResult> {
  const tenantRows: { tenant_id: string }[] = await run((tx) =>
    tx.execute(
      `select tenant_id from audit_chain_heads
        union select tenant_id from audit_checkpoints
        union select distinct tenant_id from audit_events`,
    ),
  )
  const tenants = tenantRows.map((r) => r.tenant_id)

  let checked = 0
  const problems: { id?: string; reason: string }[] = []
  for (const tenantId of tenants) {
    const { head, checkpoints } = await run(async (tx) => ({
      head: (
        (await tx.execute('select seq, hash from audit_chain_heads where tenant_id = ?', [tenantId])) as {
          seq: string
          hash: string
        }[]
      )[0],
      checkpoints: (await tx.execute(
        'select id, seq, hash, kind, signature from audit_checkpoints where tenant_id = ? order by seq, id',
        [tenantId],
      )) as { id: string; seq: string; hash: string; kind: string; signature: string }[],
    }))

    // Checkpoints first: a forged one is a problem by itself, and genuine ones pin the chain.
    const pinned = new Map<number, string>()
    let anchor = { seq: 0, hash: GENESIS_HASH }
    let checkpointProblem: string | undefined
    for (const cp of checkpoints) {
      const claims = await readCheckpoint(keys, cp.signature)
      if (!claims || claims.tid !== tenantId || claims.seq !== Number(cp.seq) || claims.hash !== cp.hash) {
        checkpointProblem ??= `checkpoint ${cp.id} of tenant ${tenantId} is not genuine`
        continue
      }
      pinned.set(claims.seq, claims.hash)
      if (claims.kind === 'prune' && claims.seq > anchor.seq) anchor = { seq: claims.seq, hash: claims.hash }
    }
    if (checkpointProblem) problems.push({ reason: checkpointProblem })

    const lastSeq = head ? Number(head.seq) : Number.POSITIVE_INFINITY
    let expected = anchor.seq + 1
    let prev = anchor.hash
    let bad: { id?: string; reason: string } | undefined
    while (!bad && expected <= lastSeq) {
      const rows: AuditEventRow[] = await run((tx) =>
        tx.execute(
          `select * from audit_events where tenant_id = ? and seq >= ? and seq <= ? order by seq, id limit ${PAGE}`,
          [tenantId, expected, Number.isFinite(lastSeq) ? lastSeq : Number.MAX_SAFE_INTEGER],
        ),
      )
      if (rows.length === 0) break
      for (const row of rows) {
        const seq = Number(row.seq)
        checked++
        if (seq !== expected) {
          bad = { id: row.id, reason: seq < expected ? `seq ${seq} repeats` : `seq ${expected} is missing` }
          break
        }
        const record: ChainRecord = {
          eventId: row.event_id,
          tenantId: row.tenant_id,
          seq,
          time: new Date(row.time),
          actorType: row.actor_type,
          actorId: row.actor_id,
          actorName: row.actor_name,
          action: row.action,
          targetType: row.target_type,
          targetId: row.target_id,
          outcome: row.outcome,
          reason: row.reason,
          clientIp: row.client_ip,
          userAgent: row.user_agent,
          details: row.details,
        }
        if (row.prev_hash !== prev) {
          bad = { id: row.id, reason: `record ${row.id} does not link to its predecessor` }
          break
        }
        if (recordHash(record, prev) !== row.hash) {
          bad = { id: row.id, reason: `record ${row.id} was altered` }
          break
        }
        const pin = pinned.get(seq)
        if (pin !== undefined && pin !== row.hash) {
          bad = { id: row.id, reason: `record ${row.id} differs from a signed checkpoint` }
          break
        }
        prev = row.hash
        expected++
      }
    }
    const reached = expected - 1
    if (!bad && head && reached < Number(head.seq)) {
      bad = { reason: `tenant ${tenantId}: records ${reached + 1}..${head.seq} are missing` }
    }
    if (!bad && head && head.hash !== prev && reached === Number(head.seq)) {
      bad = { reason: `tenant ${tenantId}: the chain head does not match its last record` }
    }
    const highestPin = Math.max(0, ...pinned.keys())
    if (!bad && highestPin > reached) {
      bad = {
        reason: `tenant ${tenantId}: the chain ends at ${reached}, before its checkpoint at ${highestPin}`,
      }
    }
    if (bad) problems.push(bad)
  }

  const withIds = problems.filter((p) => p.id !== undefined).sort((a, b) => Number(a.id) - Number(b.id))
  const first = withIds[0] ?? problems[0]
  return {
    ok: problems.length === 0,
    checked,
    tenants: tenants.length,
    ...(first?.id ? { firstBadId: first.id } : {}),
    ...(first ? { reason: first.reason } : {}),
  }
}
