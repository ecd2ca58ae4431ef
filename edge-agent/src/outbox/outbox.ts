import type { OutboxType } from '@ts-vms/shared'
import type Database from 'better-sqlite3'
import { openDurableSqlite } from '../storage/durable-sqlite.ts'
import { BATCH_OVERHEAD_BYTES, boundBody, MAX_ROW_BYTES, quarantineBody, rowBatchBytes } from './encoding.ts'

/**
 * The agent's outbox: everything it sends upward is first committed here (SQLite, WAL,
 * synchronous=FULL, so a committed row survives a crash or power cut) with an agent-wide, strictly
 * increasing sequence number (AUTOINCREMENT never reuses one), and deleted only once the hub has
 * acknowledged it.
 *
 * The outbox is bounded by bytes. Over the bound, health samples are coalesced first: older ones
 * become `noop` rows that keep their sequence numbers (the hub takes only gap-free runs) but lose
 * their bodies. Events and audit records are never dropped; while the outbox is over its bound the
 * agent refuses non-essential work (`accepting(false)`) and says so in its health.
 *
 * No row is ever larger than one message the hub takes (`MAX_ROW_BYTES`, encoded): a body over it
 * is stored as a small quarantined placeholder instead (same sequence number; counted), at append
 * and again at read for rows an older agent stored, so nothing oversize can sit at the head.
 *
 * Several processes may use one outbox at once (the agent, and `emit-test-events`).
 */
export interface OutboxRow {
  seq: number
  type: OutboxType
  at: string
  body: string
}

export class Outbox {
  readonly db: Database.Database
  private readonly insert: Database.Statement
  private readonly addBytes: Database.Statement
  private readonly countQuarantined: Database.Statement

  constructor(
    file: string,
    readonly maxBytes: number,
  ) {
    this.db = openDurableSqlite(file)
    this.db.exec(`
      create table if not exists outbox (
        seq integer primary key autoincrement,
        type text not null,
        at text not null,
        body text not null,
        bytes integer not null
      );
      create table if not exists meta (key text primary key, value text not null);
      insert or ignore into meta (key, value) values ('bytes', '0'), ('acked', '0'), ('quarantined', '0');
    `)
    this.insert = this.db.prepare('insert into outbox (type, at, body, bytes) values (?, ?, ?, ?)')
    this.addBytes = this.db.prepare(`update meta set value = cast(value as integer) + ? where key = 'bytes'`)
    this.countQuarantined = this.db.prepare(
      `update meta set value = cast(value as integer) + 1 where key = 'quarantined'`,
    )
  }

  private meta(key: string): number {
    const row = this.db.prepare('select value from meta where key = ?').get(key) as
      | { value: string }
      | undefined
    return Number(row?.value ?? 0)
  }

  /** Bytes held (bodies plus a small per-row overhead). */
  bytes(): number {
    return this.meta('bytes')
  }

  depth(): number {
    return (this.db.prepare('select count(*) as n from outbox').get() as { n: number }).n
  }

  /** When the oldest record still held was made (the agent's clock), undefined when empty. */
  oldestAt(): string | undefined {
    const row = this.db.prepare('select at from outbox order by seq limit 1').get() as
      | { at: string }
      | undefined
    return row?.at
  }

  acked(): number {
    return this.meta('acked')
  }

  /** Records replaced by a placeholder because they were too large to send (ever, on this outbox). */
  quarantined(): number {
    return this.meta('quarantined')
  }

  full(): boolean {
    return this.bytes() >= this.maxBytes
  }

  /** Whether to take on more work of this kind now. */
  accepting(essential: boolean): boolean {
    return essential || !this.full()
  }

  /** Commits a message and returns its sequence number. */
  append(type: Exclude<OutboxType, 'noop'>, body: unknown, at: Date = new Date()): number {
    const bounded = boundBody(type, body)
    const bytes = Buffer.byteLength(bounded.text) + 64
    const run = this.db.transaction(() => {
      if (type === 'health' && this.bytes() + bytes > this.maxBytes) this.coalesceHealth()
      const result = this.insert.run(bounded.type, at.toISOString(), bounded.text, bytes)
      this.addBytes.run(bytes)
      if (bounded.quarantined) this.countQuarantined.run()
      return Number(result.lastInsertRowid)
    })
    return run.immediate()
  }

  /** Older health samples become bodiless `noop` rows; their sequence numbers stay. */
  private coalesceHealth(): void {
    const freed = this.db
      .prepare(`select coalesce(sum(bytes) - count(*) * 66, 0) as freed from outbox where type = 'health'`)
      .get() as { freed: number }
    this.db.prepare(`update outbox set type = 'noop', body = '{}', bytes = 66 where type = 'health'`).run()
    this.addBytes.run(-freed.freed)
  }

  /**
   * Rows after `afterSeq`, in order, up to `limit` rows and — encoded as one `up/messages` batch,
   * envelope and JSON escapes included — at most `maxBytes` bytes. The first row always comes (a
   * smaller budget must not stall the outbox); one over `MAX_ROW_BYTES` (stored before rows were
   * bounded at append) is quarantined in place first, so every batch fits what the hub takes.
   */
  read(afterSeq: number, limit: number, maxBytes: number): OutboxRow[] {
    const rows = this.db
      .prepare('select seq, type, at, body from outbox where seq > ? order by seq limit ?')
      .all(afterSeq, limit) as OutboxRow[]
    const out: OutboxRow[] = []
    let total = BATCH_OVERHEAD_BYTES
    for (const row of rows) {
      let r = row
      let size = rowBatchBytes(r, out.length === 0)
      if (size > MAX_ROW_BYTES) {
        r = this.quarantineRow(r)
        size = rowBatchBytes(r, out.length === 0)
      }
      if (out.length > 0 && total + size > maxBytes) break
      total += size
      out.push(r)
    }
    return out
  }

  /** Replaces a stored row too large to send by its placeholder, keeping its sequence number. */
  private quarantineRow(r: OutboxRow): OutboxRow {
    let body: unknown = {}
    try {
      body = JSON.parse(r.body)
    } catch {}
    const q = quarantineBody(r.type, body, Buffer.byteLength(r.body))
    const text = JSON.stringify(q.body)
    const bytes = Buffer.byteLength(text) + 64
    try {
      this.db
        .transaction(() => {
          const old = this.db.prepare('select bytes from outbox where seq = ?').get(r.seq) as
            | { bytes: number }
            | undefined
          if (!old) return // acknowledged meanwhile
          this.db
            .prepare('update outbox set type = ?, body = ?, bytes = ? where seq = ?')
            .run(q.type, text, bytes, r.seq)
          this.addBytes.run(bytes - old.bytes)
          this.countQuarantined.run()
        })
        .immediate()
    } catch {
      // The data disk is full (or the file is busy): send the placeholder anyway; the next read
      // tries to store it again.
    }
    return { seq: r.seq, type: q.type, at: r.at, body: text }
  }

  /** The hub has committed everything up to `seq`: forget it. */
  ack(seq: number): void {
    this.db
      .transaction(() => {
        const gone = this.db
          .prepare('select coalesce(sum(bytes), 0) as b from outbox where seq <= ?')
          .get(seq) as {
          b: number
        }
        this.db.prepare('delete from outbox where seq <= ?').run(seq)
        this.addBytes.run(-gone.b)
        this.db
          .prepare(`update meta set value = ? where key = 'acked' and cast(value as integer) < ?`)
          .run(String(seq), seq)
      })
      .immediate()
  }

  /** The highest sequence number ever assigned (0 if none). */
  lastSeq(): number {
    const row = this.db.prepare(`select seq from sqlite_sequence where name = 'outbox'`).get() as
      | { seq: number }
      | undefined
    return row?.seq ?? 0
  }

  getSetting(key: string): string | undefined {
    const row = this.db.prepare('select value from meta where key = ?').get(`setting:${key}`) as
      | { value: string }
      | undefined
    return row?.value
  }

  /**
   * Runs `fn` in one transaction: the settings and records it writes are committed together or not
   * at all (a power cut between a record and the setting that says it was sent would otherwise
   * leave them disagreeing). Nested `append`s become savepoints.
   */
  atomically<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }

  setSetting(key: string, value: string): void {
    this.db
      .prepare(
        'insert into meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value',
      )
      .run(`setting:${key}`, value)
  }

  close(): void {
    this.db.close()
  }
}
