import path from 'node:path'
import type { Logger } from 'pino'
import type { Database, Tx } from '../db/database.ts'
import { isDatabaseUnavailable } from '../db/errors.ts'
import { type AuditEvent, type AuditLog, logAuditEvent } from './audit-log.ts'
import { GENESIS_HASH, recordHash } from './chain.ts'
import type { AuditPartitions } from './partitions.ts'
import { AuditQuarantine } from './quarantine.ts'
import { toRecord } from './record.ts'
import { AuditSpool, type SpooledRecord } from './spool.ts'

export interface AuditMetrics {
  written(n: number): void
  spooled(n: number): void
  spooling(on: boolean): void
  /** Records set aside because the database would not take them (see AuditQuarantine). */
  quarantined?(n: number): void
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
  /** Where unwritable records are set aside (default: `audit-quarantine` beside the spool). */
  quarantine?: AuditQuarantine
  /**
   * A record that fails this many times alone, with the database answering, is set aside even when
   * the error does not say the record is at fault (default 3).
   */
  maxAttempts?: number
}

interface Pending {
  record: SpooledRecord
  resolve: () => void
  reject: (err: unknown) => void
}

const BATCH = 200

class TimeoutError extends Error {}

/**
 * True when PostgreSQL refused the row itself, whatever the moment: data exceptions (class 22:
 * invalid JSON or text, a time out of range, ...) and integrity violations (class 23) other than a
 * unique violation, which a concurrent writer of the same record causes and a retry resolves.
 */
export function isRecordRejected(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; sqlState?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 4;
    i++
  ) {
    const code = typeof e.sqlState === 'string' ? e.sqlState : typeof e.code === 'string' ? e.code : ''
    if (/^2[23]...$/.test(code)) return code !== '23505'
    e = e.cause as typeof e
  }
  return false
}

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
  /** Failures of single records whose error did not convict them, by event id. */
  private readonly attempts = new Map<string, number>()
  readonly quarantine: AuditQuarantine

  constructor(private readonly o: DurableAuditLogOptions) {
    this.quarantine =
      o.quarantine ?? new AuditQuarantine(path.join(path.dirname(o.spool.dir), 'audit-quarantine'))
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

  /** Records waiting in the disk spool for the database. */
  spooledCount(): number {
    return this.o.spool.count()
  }

  /** Records set aside on this hub because the database would not take them. */
  quarantinedCount(): number {
    return this.quarantine.count()
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
      let batch = this.queue.splice(0, BATCH)
      if (this.mode === 'direct') {
        const { handled, error } = await this.writeAll(
          batch.map((p) => p.record),
          false,
        )
        for (const p of batch.slice(0, handled)) p.resolve()
        if (handled === batch.length) continue
        batch = batch.slice(handled)
        this.enterSpoolMode(error)
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

  /** True when a failed write means the database is not taking anything now (not: this record). */
  private async databaseDown(err: unknown): Promise<boolean> {
    if (err instanceof TimeoutError || isDatabaseUnavailable(err)) return true
    const code = (err as { code?: unknown } | undefined)?.code
    if (code === '57014') return true // statement timeout: slow, not wrong
    try {
      return !(await withTimeout(this.o.db.ping(), this.o.dbTimeoutMs))
    } catch {
      return true
    }
  }

  /**
   * Writes records in order, in batches. When a batch fails while the database is up, some record
   * in it is at fault: the batch is written one record at a time, and a record the database
   * refuses (by its error, or by failing `maxAttempts` times) is quarantined, so it never blocks
   * the records behind it. Stops at the first failure that is the database's, and says how many
   * leading records were handled (written, already there, or quarantined).
   */
  private async writeAll(
    records: SpooledRecord[],
    skipExisting: boolean,
  ): Promise<{ handled: number; error?: unknown }> {
    let handled = 0
    while (handled < records.length) {
      const batch = records.slice(handled, handled + BATCH)
      try {
        this.o.metrics.written(await withTimeout(this.write(batch, skipExisting), this.o.dbTimeoutMs))
        handled += batch.length
        continue
      } catch (err) {
        if (await this.databaseDown(err)) return { handled, error: err }
      }
      for (const record of batch) {
        try {
          this.o.metrics.written(await withTimeout(this.write([record], skipExisting), this.o.dbTimeoutMs))
          this.attempts.delete(record.eventId)
        } catch (err) {
          if (await this.databaseDown(err)) return { handled, error: err }
          if (!isRecordRejected(err)) {
            const attempts = (this.attempts.get(record.eventId) ?? 0) + 1
            this.attempts.set(record.eventId, attempts)
            if (attempts < (this.o.maxAttempts ?? 3)) return { handled, error: err }
          }
          try {
            this.setAside(record, err)
          } catch (diskErr) {
            // Cannot set it aside either (disk full?): keep it where it is, in order, and retry.
            return { handled, error: diskErr }
          }
        }
        handled++
      }
    }
    return { handled }
  }

  private setAside(record: SpooledRecord, err: unknown) {
    this.attempts.delete(record.eventId)
    const added = this.quarantine.add(record, err)
    if (added) this.o.metrics.quarantined?.(1)
    this.o.logger.error(
      {
        eventId: record.eventId,
        tenantId: record.tenantId,
        action: record.action,
        err: err instanceof Error ? err.message : String(err),
      },
      'audit: the database refuses this record; quarantined it so the records behind it are written',
    )
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
          // A record set aside during an earlier, interrupted pass over this file stays aside.
          const pending = records.filter((r) => !this.quarantine.has(r.eventId))
          const { handled, error } = await this.writeAll(pending, true)
          if (handled < pending.length) throw error
          this.o.spool.done(file)
        }
      }
    } catch (err) {
      this.backoffMs = Math.min(this.backoffMs * 2, 10_000)
      this.o.logger.debug(
        { err: err instanceof Error ? err.message : String(err) },
        'audit: replay failed; retrying',
      )
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
