import type { Logger } from 'pino'
import type { Database, Tx } from '../db/database.ts'
import { type AuditEvent, type AuditLog, logAuditEvent } from './audit-log.ts'
import { GENESIS_HASH, recordHash } from './chain.ts'
import type { AuditPartitions } from './partitions.ts'
import { toRecord } from './record.ts'
import { AuditSpool, type SpooledRecord } from './spool.ts'

export interface AuditMetrics {
  written(n: number): void
  spooled(n: number): void
  spooling(on: boolean): void
}

export interface DurableAuditLogOptions {
  db: Database
  spool: AuditSpool
  partitions: AuditPartitions
  logger: Logger
  systemTenantId: string
  /** A database write slower than this goes to the spool instead (and is de-duplicated later). */
  dbTimeoutMs: number
  metrics: AuditMetrics
}

interface Pending {
  record: SpooledRecord
  resolve: () => void
  reject: (err: unknown) => void
}

const BATCH = 200

class TimeoutError extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer from the database in ${ms} ms`)), ms)
  })
  work.catch(() => {}) // a late failure of an abandoned write is of no interest
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The audit trail's writer. Records are appended to their tenant's hash chain in the database in
 * batches; when the database cannot take them (error or timeout) they go to the disk spool, and
 * from then on every record does, until a replay has moved the whole spool into the database in
 * order. So no record is lost, and none overtakes an older one of the same hub.
 *
 * Replay may meet a record whose "failed" write did commit after all (a timeout): every record has
 * a unique event id, and replay skips the ones already stored.
 */
export class DurableAuditLog implements AuditLog {
  private mode: 'direct' | 'spool'
  private readonly queue: Pending[] = []
  private pumping: Promise<void> | undefined
  private replayTimer: NodeJS.Timeout | undefined
  private replaying: Promise<void> | undefined
  private backoffMs = 500
  private closed = false

  constructor(private readonly o: DurableAuditLogOptions) {
    this.mode = o.spool.isEmpty() ? 'direct' : 'spool'
    if (this.mode === 'spool') {
      o.logger.warn('audit records are waiting in the spool: replaying them')
      o.metrics.spooling(true)
      this.scheduleReplay(0)
    }
  }

  get spooling(): boolean {
    return this.mode === 'spool'
  }

  record(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the audit log is closed'))
    logAuditEvent(this.o.logger, event)
    const record = toRecord(event, this.o.systemTenantId)
    if (this.mode === 'spool') {
      this.spoolRecords([record])
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, resolve, reject })
      this.kick()
    })
  }

  /** Starts the pump unless it runs; a record queued just as it finished starts it again. */
  private kick() {
    if (this.pumping) return
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined
      if (this.queue.length > 0) this.kick()
    })
  }

  private spoolRecords(records: SpooledRecord[]) {
    this.o.spool.append(records)
    this.o.metrics.spooled(records.length)
    this.scheduleReplay()
  }

  private enterSpoolMode(err: unknown) {
    if (this.mode === 'spool') return
    this.mode = 'spool'
    this.o.metrics.spooling(true)
    this.o.logger.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'audit: the database cannot take records; spooling them to disk',
    )
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH)
      if (this.mode === 'direct') {
        try {
          await withTimeout(
            this.write(
              batch.map((p) => p.record),
              false,
            ),
            this.o.dbTimeoutMs,
          )
          this.o.metrics.written(batch.length)
          for (const p of batch) p.resolve()
          continue
        } catch (err) {
          this.enterSpoolMode(err)
        }
      }
      // From here to the end of the loop body nothing awaits: no record can slip in between.
      try {
        this.spoolRecords(batch.map((p) => p.record))
        for (const p of batch) p.resolve()
      } catch (err) {
        this.o.logger.error({ err }, 'audit: cannot write the spool either')
        for (const p of batch) p.reject(err)
      }
    }
  }

  /** Appends records to their chains in one transaction. */
  private async write(records: SpooledRecord[], skipExisting: boolean): Promise<number> {
    await this.o.partitions.ensure(records.map((r) => new Date(r.time)))
    return this.o.db.withSystem(async (tx) => {
      await tx.execute(`select set_config('statement_timeout', ?, true)`, [String(this.o.dbTimeoutMs)])
      const heads = await lockHeads(tx, records)
      const rows: unknown[] = []
      const values: string[] = []
      for (const r of records) {
        // Replays, and records that carry their own id (agents'), may already be stored.
        if (skipExisting || r.actorType === 'agent') {
          const existing = await tx.execute('select 1 from audit_events where event_id = ? and time = ?', [
            r.eventId,
            r.time,
          ])
          if (existing.length > 0) continue
        }
        const head = heads.get(r.tenantId) as { seq: number; hash: string }
        const seq = head.seq + 1
        const hash = recordHash({ ...r, seq, time: new Date(r.time) }, head.hash)
        values.push('(?, ?::timestamptz, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?)')
        rows.push(
          r.eventId,
          r.time,
          r.tenantId,
          seq,
          r.actorType,
          r.actorId,
          r.actorName,
          r.action,
          r.targetType,
          r.targetId,
          r.outcome,
          r.reason,
          r.clientIp,
          r.userAgent,
          JSON.stringify(r.details),
          head.hash,
          hash,
        )
        heads.set(r.tenantId, { seq, hash })
      }
      if (values.length === 0) return 0
      await tx.execute(
        `insert into audit_events (event_id, time, tenant_id, seq, actor_type, actor_id, actor_name, action,
           target_type, target_id, outcome, reason, client_ip, user_agent, details, prev_hash, hash)
         values ${values.join(', ')}`,
        rows,
      )
      for (const [tenantId, head] of heads) {
        await tx.execute(
          'update audit_chain_heads set seq = ?, hash = ?, updated_at = now() where tenant_id = ?',
          [head.seq, head.hash, tenantId],
        )
      }
      return values.length
    })
  }

  private scheduleReplay(delayMs = this.backoffMs) {
    if (this.replayTimer || this.closed) return
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined
      this.replaying ??= this.replay().finally(() => {
        this.replaying = undefined
      })
    }, delayMs)
    this.replayTimer.unref()
  }

  /** Moves the spool into the database, oldest first; switches back to direct writes when empty. */
  private async replay(): Promise<void> {
    try {
      for (;;) {
        const files = this.o.spool.takeForReplay()
        if (files.length === 0) {
          // No await between the emptiness check and the switch: appends cannot interleave.
          if (this.o.spool.isEmpty() && this.mode === 'spool') {
            this.mode = 'direct'
            this.backoffMs = 500
            this.o.metrics.spooling(false)
            this.o.logger.info('audit: the spool is replayed; writing to the database again')
          }
          return
        }
        for (const file of files) {
          const { records, skipped } = AuditSpool.read(file)
          if (skipped > 0) this.o.logger.warn({ file, skipped }, 'audit: skipped torn or corrupt spool lines')
          for (let i = 0; i < records.length; i += BATCH) {
            const written = await withTimeout(
              this.write(records.slice(i, i + BATCH), true),
              this.o.dbTimeoutMs,
            )
            this.o.metrics.written(written)
          }
          this.o.spool.done(file)
        }
      }
    } catch (err) {
      this.backoffMs = Math.min(this.backoffMs * 2, 10_000)
      this.o.logger.debug({ err: (err as Error).message }, 'audit: replay failed; retrying')
      this.scheduleReplay()
    }
  }

  /** Waits until nothing is queued and, if the database is up, nothing is spooled. */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      await this.pumping
      if (this.mode === 'direct' && this.queue.length === 0) return true
      if (this.mode === 'spool' && !this.replayTimer && !this.replaying) this.scheduleReplay(0)
      await new Promise((r) => setTimeout(r, 50))
    }
    return false
  }

  async close(): Promise<void> {
    this.closed = true
    await this.pumping
    if (this.replayTimer) clearTimeout(this.replayTimer)
    this.replayTimer = undefined
    await this.replaying
    this.o.spool.close()
  }
}

/** Locks the chain heads of the records' tenants (in id order, so writers never deadlock). */
async function lockHeads(tx: Tx, records: SpooledRecord[]) {
  const heads = new Map<string, { seq: number; hash: string }>()
  for (const tenantId of [...new Set(records.map((r) => r.tenantId))].sort()) {
    await tx.execute(
      'insert into audit_chain_heads (tenant_id, seq, hash) values (?, 0, ?) on conflict (tenant_id) do nothing',
      [tenantId, GENESIS_HASH],
    )
    const [head]: { seq: string; hash: string }[] = await tx.execute(
      'select seq, hash from audit_chain_heads where tenant_id = ? for update',
      [tenantId],
    )
    heads.set(tenantId, { seq: Number(head?.seq ?? 0), hash: head?.hash ?? GENESIS_HASH })
  }
  return heads
}
