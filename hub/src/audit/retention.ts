import type { Logger } from 'pino'
import type { SigningKeyStore } from '../auth/signing-keys.ts'
import type { Database } from '../db/database.ts'
import type { AuditLog } from './audit-log.ts'
import { insertCheckpoint, takeCheckpoints } from './checkpoints.ts'
import { type AuditPartitions, nextMonth } from './partitions.ts'

/**
 * Retention: drops whole monthly partitions that lie entirely before `now - retentionDays`. Before
 * a partition goes, each chain in it gets a signed `prune` checkpoint of its last record there, so
 * verification can start from that anchor; afterwards the pruning is itself audited and every
 * chain is checkpointed.
 */
export interface PruneResult {
  dropped: { partition: string; events: number; tenants: number }[]
}

export async function pruneAudit(
  deps: { db: Database; partitions: AuditPartitions; keys: SigningKeyStore; audit: AuditLog; logger: Logger },
  now: Date,
  retentionDays: number,
): Promise<PruneResult> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000)
  const dropped: PruneResult['dropped'] = []
  for (const { name, month } of await deps.partitions.list()) {
    const end = nextMonth(month)
    if (end.getTime() > cutoff.getTime()) continue
    const signer = await deps.keys.signingKey()
    const summary = await deps.db.withSystem(async (tx) => {
      const last: { tenant_id: string; seq: string; hash: string; events: string }[] = await tx.execute(
        `select distinct on (tenant_id) tenant_id, seq, hash,
                count(*) over (partition by tenant_id) as events
           from audit_events where time >= ? and time < ?
          order by tenant_id, seq desc`,
        [month.toISOString(), end.toISOString()],
      )
      for (const row of last) {
        const anchored: { seq: string | null }[] = await tx.execute(
          `select max(seq) as seq from audit_checkpoints where tenant_id = ? and kind = 'prune'`,
          [row.tenant_id],
        )
        if (Number(anchored[0]?.seq ?? 0) >= Number(row.seq)) continue
        await insertCheckpoint(tx, signer, {
          tenantId: row.tenant_id,
          seq: Number(row.seq),
          hash: row.hash,
          kind: 'prune',
        })
      }
      return { events: last.reduce((n, r) => n + Number(r.events), 0), tenants: last.length }
    })
    // The name comes from pg_class and matched audit_events_pYYYYMM: safe to interpolate.
    await deps.db.withOwner((tx) => tx.execute(`DROP TABLE ${name}`))
    deps.partitions.forget(name)
    dropped.push({ partition: name, ...summary })
    deps.logger.info({ partition: name, ...summary }, 'audit retention dropped a partition')
    await deps.audit.record({
      action: 'audit.prune',
      outcome: 'success',
      actor: { type: 'system', name: 'retention' },
      target: { type: 'audit_partition', id: name },
      details: { month: month.toISOString().slice(0, 7), retentionDays, ...summary },
    })
  }
  if (dropped.length > 0) await takeCheckpoints(deps.db, deps.keys)
  return { dropped }
}
