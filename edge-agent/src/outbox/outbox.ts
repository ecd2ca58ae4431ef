import type { OutboxType } from '@ts-vms/shared'
import type Database from 'better-sqlite3'
import { openDurableSqlite } from '../storage/durable-sqlite.ts'

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
      insert or ignore into meta (key, value) values ('bytes', '0'), ('acked', '0');
    `)
    this.insert = this.db.prepare('insert into outbox (type, at, body, bytes) values (?, ?, ?, ?)')
    this.addBytes = this.db.prepare(`update meta set value = cast(value as integer) + ? where key = 'bytes'`)
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

  acked(): number {
    return this.meta('acked')
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
    const text = JSON.stringify(body)
    const bytes = Buffer.byteLength(text) + 64
    const run = this.db.transaction(() => {
      if (type === 'health' && this.bytes() + bytes > this.maxBytes) this.coalesceHealth()
      const result = this.insert.run(type, at.toISOString(), text, bytes)
      this.addBytes.run(bytes)
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

  /** Rows after `afterSeq`, in order, up to `limit` rows and about `maxBytes` bytes. */
  read(afterSeq: number, limit: number, maxBytes: number): OutboxRow[] {
    const rows = this.db
      .prepare('select seq, type, at, body, bytes from outbox where seq > ? order by seq limit ?')
      .all(afterSeq, limit) as (OutboxRow & { bytes: number })[]
    const out: OutboxRow[] = []
    let total = 0
    for (const r of rows) {
      if (out.length > 0 && total + r.bytes > maxBytes) break
      total += r.bytes
      out.push({ seq: r.seq, type: r.type, at: r.at, body: r.body })
    }
    return out
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
