import type { Database } from '../db/database.ts'

/**
 * Monthly partitions of audit_events (UTC months). Created on demand before records of a month are
 * written, and dropped whole by retention.
 */
export function monthStart(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1))
}

export function nextMonth(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))
}

export function partitionName(d: Date): string {
  return `audit_events_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`
}

/** The month a partition holds, from its name, or undefined for names that are not ours. */
export function partitionMonth(name: string): Date | undefined {
  const m = /^audit_events_p(\d{4})(\d{2})$/.exec(name)
  if (!m) return undefined
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1))
}

export class AuditPartitions {
  private readonly known = new Set<string>()

  constructor(private readonly db: Database) {}

  /** Makes sure a partition exists for every month of the given times. */
  async ensure(times: Date[]): Promise<void> {
    const months = new Map<string, Date>()
    for (const t of times) {
      const start = monthStart(t)
      const name = partitionName(start)
      if (!this.known.has(name)) months.set(name, start)
    }
    for (const [name, start] of months) {
      await this.db.withOwner(async (tx) => {
        await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.audit_partitions'))`)
        const exists = await tx.execute('select 1 from pg_class where relname = ?', [name])
        if (exists.length === 0) {
          // Names and bounds come from Date arithmetic above, never from input. Partitions get no
          // grants and no policies of their own: the hub reaches them only through audit_events,
          // whose policies and grants apply.
          await tx.execute(
            `CREATE TABLE ${name} PARTITION OF audit_events FOR VALUES FROM ('${start.toISOString()}') TO ('${nextMonth(start).toISOString()}')`,
          )
          await tx.execute(
            `CREATE TRIGGER ${name}_no_truncate BEFORE TRUNCATE ON ${name} FOR EACH STATEMENT EXECUTE FUNCTION vms_audit_append_only()`,
          )
        }
      })
      this.known.add(name)
    }
  }

  async list(): Promise<{ name: string; month: Date }[]> {
    const rows: { name: string }[] = await this.db.withOwner((tx) =>
      tx.execute(
        `select c.relname as name from pg_inherits i
           join pg_class c on c.oid = i.inhrelid
           join pg_class p on p.oid = i.inhparent
          where p.relname = 'audit_events' order by c.relname`,
      ),
    )
    return rows.flatMap((r) => {
      const month = partitionMonth(r.name)
      return month ? [{ name: r.name, month }] : []
    })
  }

  forget(name: string): void {
    this.known.delete(name)
  }
}
