import type { Logger } from 'pino'
import type { SigningKeyStore } from '../auth/signing-keys.ts'
import type { Database } from '../db/database.ts'
import type { AuditLog } from './audit-log.ts'
import { takeCheckpoints } from './checkpoints.ts'
import type { AuditPartitions } from './partitions.ts'
import { pruneAudit } from './retention.ts'

/** Periodic audit upkeep: signed checkpoints, and retention once a day (and shortly after start). */
export function startAuditMaintenance(o: {
  db: Database
  keys: SigningKeyStore
  audit: AuditLog
  partitions: AuditPartitions
  logger: Logger
  checkpointSeconds: number
  retentionDays: number
}): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve()
  const guarded = (name: string, job: () => Promise<unknown>) => () => {
    running = running
      .then(job)
      .catch((err: unknown) => o.logger.warn({ err, job: name }, 'audit maintenance failed'))
  }
  const checkpoint = guarded('checkpoint', () => takeCheckpoints(o.db, o.keys))
  const prune = guarded('retention', () => pruneAudit(o, new Date(), o.retentionDays))
  const timers = [
    setInterval(checkpoint, o.checkpointSeconds * 1000),
    setInterval(prune, 24 * 3600 * 1000),
    setTimeout(prune, 30_000),
  ]
  for (const t of timers) t.unref()
  return {
    async stop() {
      for (const t of timers) clearTimeout(t)
      await running
    },
  }
}
