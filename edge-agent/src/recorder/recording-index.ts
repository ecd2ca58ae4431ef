import { statSync } from 'node:fs'
import type Database from 'better-sqlite3'
import { checkpoint, openDurableSqlite } from '../storage/durable-sqlite.ts'

/**
 * The recording index (SQLite, WAL): one row per segment file with its camera, stream, wall-clock
 * and media-time range, size, codec parameters and state; one row per fragment (the unit that is
 * durable on disk and that playback seeks by); gaps; and evidence locks that retention must
 * respect. Files are the truth for bytes; the index is the truth for time, and is repaired from the
 * files after a crash (see repair.ts).
 *
 * `recorded_ms` is the agent's own clock when the segment last grew (opened, a fragment made
 * durable): retention ages segments by it, never by `start_ms`/`end_ms`, which follow the stream.
 */
export interface SegmentRow {
  id: number
  camera_id: string
  stream: string
  path: string
  start_ms: number
  end_ms: number
  start_pts: number
  end_pts: number
  bytes: number
  codec: string
  codec_string: string
  width: number
  height: number
  parameter_sets: string
  state: 'open' | 'closed'
  frames: number
  /** The agent's clock when the segment last grew (what retention ages it by). */
  recorded_ms: number
}

export interface FragmentRow {
  segment_id: number
  offset_end: number
  start_ms: number
  end_ms: number
}

export interface GapRow {
  camera_id: string
  stream: string
  from_ms: number
  to_ms: number | null
  reason: string
}

/** The WAL is kept to this size (a small recordings disk should not hold megabytes of it). */
const WAL_LIMIT_BYTES = 1024 * 1024

export class RecordingIndex {
  readonly db: Database.Database
  private readonly now: () => number

  constructor(file: string, options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now
    this.db = openDurableSqlite(file, { walLimitBytes: WAL_LIMIT_BYTES })
    this.db.exec(`
      create table if not exists segments (
        id integer primary key autoincrement,
        camera_id text not null,
        stream text not null,
        path text not null unique,
        start_ms real not null,
        end_ms real not null,
        start_pts integer not null,
        end_pts integer not null,
        bytes integer not null default 0,
        codec text not null,
        codec_string text not null,
        width integer not null,
        height integer not null,
        parameter_sets text not null,
        state text not null check (state in ('open', 'closed')),
        frames integer not null default 0
      );
      create index if not exists segments_time on segments (camera_id, stream, start_ms);
      create index if not exists segments_closed on segments (state, start_ms, id);
      create table if not exists fragments (
        segment_id integer not null references segments (id) on delete cascade,
        offset_end integer not null,
        start_ms real not null,
        end_ms real not null,
        primary key (segment_id, offset_end)
      );
      create table if not exists gaps (
        id integer primary key autoincrement,
        camera_id text not null,
        stream text not null,
        from_ms real not null,
        to_ms real,
        reason text not null
      );
      create index if not exists gaps_time on gaps (camera_id, stream, from_ms);
    `)
    this.migrateLocks()
    this.migrateRecordedMs()
    this.db.pragma('foreign_keys = ON')
  }

  /**
   * Evidence locks: one row per (lock, camera), kept until `until_ms` by the agent's clock (null:
   * until unlocked). Indexes from before the hub's locks had one camera per lock id and no
   * `until_ms`: the table is rebuilt with its rows, once.
   */
  private migrateLocks(): void {
    const columns = this.db.pragma('table_info(locks)') as { name: string }[]
    if (columns.some((c) => c.name === 'until_ms')) return
    this.db.transaction(() => {
      this.db.exec(`
        create table locks_v2 (
          id text not null,
          camera_id text not null,
          from_ms real not null,
          to_ms real not null,
          until_ms real,
          reason text,
          created_ms real not null,
          primary key (id, camera_id)
        );
        create index locks_camera on locks_v2 (camera_id, from_ms);
      `)
      if (columns.length > 0) {
        this.db.exec(`insert into locks_v2 (id, camera_id, from_ms, to_ms, reason, created_ms)
                      select id, camera_id, from_ms, to_ms, reason, created_ms from locks`)
        this.db.exec('drop table locks')
      }
      this.db.exec('alter table locks_v2 rename to locks')
    })()
  }

  /**
   * Indexes from before `recorded_ms`: their rows get the file's modification time (the agent's
   * clock at the last write), or, with the file gone, their end capped at now. Once.
   */
  private migrateRecordedMs(): void {
    const columns = this.db.pragma('table_info(segments)') as { name: string }[]
    if (!columns.some((c) => c.name === 'recorded_ms')) {
      this.db.exec('alter table segments add column recorded_ms real')
      const now = this.now()
      const rows = this.db.prepare('select id, path, end_ms from segments').all() as {
        id: number
        path: string
        end_ms: number
      }[]
      const set = this.db.prepare('update segments set recorded_ms = ? where id = ?')
      this.db.transaction(() => {
        for (const r of rows) {
          let ms = Math.min(r.end_ms, now)
          try {
            ms = statSync(r.path).mtimeMs
          } catch {}
          set.run(ms, r.id)
        }
      })()
    }
    this.db.exec('create index if not exists segments_recorded on segments (camera_id, recorded_ms, id)')
  }

  openSegment(
    s: Omit<SegmentRow, 'id' | 'bytes' | 'state' | 'frames' | 'end_ms' | 'end_pts' | 'recorded_ms'>,
  ): number {
    const r = this.db
      .prepare(
        `insert into segments (camera_id, stream, path, start_ms, end_ms, start_pts, end_pts, codec, codec_string,
           width, height, parameter_sets, state, recorded_ms)
         values (@camera_id, @stream, @path, @start_ms, @start_ms, @start_pts, @start_pts, @codec, @codec_string,
           @width, @height, @parameter_sets, 'open', @recorded_ms)`,
      )
      .run({ ...s, recorded_ms: this.now() })
    return Number(r.lastInsertRowid)
  }

  /** A fragment is on disk (fsynced): extend the segment to cover it. */
  addFragment(
    segmentId: number,
    f: { offsetEnd: number; startMs: number; endMs: number; endPts: number; frames: number },
  ) {
    this.db.transaction(() => {
      this.db
        .prepare(
          'insert or replace into fragments (segment_id, offset_end, start_ms, end_ms) values (?, ?, ?, ?)',
        )
        .run(segmentId, f.offsetEnd, f.startMs, f.endMs)
      this.db
        .prepare(
          'update segments set end_ms = ?, end_pts = ?, bytes = ?, frames = ?, recorded_ms = ? where id = ?',
        )
        .run(f.endMs, f.endPts, f.offsetEnd, f.frames, this.now(), segmentId)
    })()
  }

  closeSegment(segmentId: number, bytes: number, endMs?: number): void {
    if (endMs === undefined)
      this.db.prepare(`update segments set state = 'closed', bytes = ? where id = ?`).run(bytes, segmentId)
    else
      this.db
        .prepare(`update segments set state = 'closed', bytes = ?, end_ms = ? where id = ?`)
        .run(bytes, endMs, segmentId)
  }

  segment(id: number): SegmentRow | undefined {
    return this.db.prepare('select * from segments where id = ?').get(id) as SegmentRow | undefined
  }

  openSegments(): SegmentRow[] {
    return this.db.prepare(`select * from segments where state = 'open'`).all() as SegmentRow[]
  }

  fragments(segmentId: number): FragmentRow[] {
    return this.db
      .prepare('select * from fragments where segment_id = ? order by offset_end')
      .all(segmentId) as FragmentRow[]
  }

  /** Segments of a camera overlapping [fromMs, toMs), oldest first. */
  segmentsBetween(cameraId: string, fromMs: number, toMs: number, stream?: string): SegmentRow[] {
    return this.db
      .prepare(
        `select * from segments where camera_id = ? and (? is null or stream = ?)
           and end_ms > ? and start_ms < ? order by start_ms`,
      )
      .all(cameraId, stream ?? null, stream ?? null, fromMs, toMs) as SegmentRow[]
  }

  openGap(cameraId: string, stream: string, fromMs: number, reason: string): void {
    const open = this.db
      .prepare('select id from gaps where camera_id = ? and stream = ? and to_ms is null')
      .get(cameraId, stream) as { id: number } | undefined
    if (open) return
    this.db
      .prepare('insert into gaps (camera_id, stream, from_ms, reason) values (?, ?, ?, ?)')
      .run(cameraId, stream, fromMs, reason)
  }

  /** Closes the open gap of a stream; returns it if there was one. */
  closeGap(cameraId: string, stream: string, toMs: number): GapRow | undefined {
    const open = this.db
      .prepare('select * from gaps where camera_id = ? and stream = ? and to_ms is null')
      .get(cameraId, stream) as (GapRow & { id: number }) | undefined
    if (!open) return undefined
    this.db.prepare('update gaps set to_ms = ? where id = ?').run(toMs, open.id)
    return { ...open, to_ms: toMs }
  }

  gapsBetween(cameraId: string, fromMs: number, toMs: number): GapRow[] {
    return this.db
      .prepare(
        `select camera_id, stream, from_ms, to_ms, reason from gaps
          where camera_id = ? and coalesce(to_ms, 1e15) > ? and from_ms < ? order by from_ms`,
      )
      .all(cameraId, fromMs, toMs) as GapRow[]
  }

  lock(l: {
    id: string
    cameraId: string
    fromMs: number
    toMs: number
    untilMs?: number
    reason?: string
  }): void {
    this.db
      .prepare(
        `insert or replace into locks (id, camera_id, from_ms, to_ms, until_ms, reason, created_ms)
         values (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(l.id, l.cameraId, l.fromMs, l.toMs, l.untilMs ?? null, l.reason ?? null, Date.now())
  }

  unlock(id: string): void {
    this.db.prepare('delete from locks where id = ?').run(id)
  }

  /**
   * Makes the index's locks exactly these (the hub's, from the configuration): one row per camera,
   * those already past `until` left out. In one transaction, so retention never sees a moment with
   * a lock missing.
   */
  syncLocks(
    locks: readonly {
      id: string
      cameraIds: readonly string[]
      fromMs: number
      toMs: number
      untilMs: number
    }[],
    now = this.now(),
  ): void {
    const insert = this.db.prepare(
      `insert or replace into locks (id, camera_id, from_ms, to_ms, until_ms, reason, created_ms)
       values (?, ?, ?, ?, ?, null, ?)`,
    )
    this.db.transaction(() => {
      this.db.prepare('delete from locks').run()
      for (const l of locks) {
        if (l.untilMs <= now) continue
        for (const cameraId of l.cameraIds) insert.run(l.id, cameraId, l.fromMs, l.toMs, l.untilMs, now)
      }
    })()
  }

  /** Removes locks whose `until` has passed (by the agent's clock); returns how many rows. */
  dropExpiredLocks(now = this.now()): number {
    return this.db.prepare('delete from locks where until_ms is not null and until_ms <= ?').run(now).changes
  }

  /** Whether a lock in force at `now` overlaps the segment. */
  isLocked(segment: SegmentRow, now = this.now()): boolean {
    return Boolean(
      this.db
        .prepare(
          `select 1 from locks where camera_id = ? and to_ms > ? and from_ms < ?
             and (until_ms is null or until_ms > ?) limit 1`,
        )
        .get(segment.camera_id, segment.start_ms, segment.end_ms, now),
    )
  }

  /** Whether a lock in force at `now` covers the instant `ms` of a camera (snapshots). */
  isLockedAt(cameraId: string, ms: number, now = this.now()): boolean {
    return Boolean(
      this.db
        .prepare(
          `select 1 from locks where camera_id = ? and from_ms <= ? and to_ms > ?
             and (until_ms is null or until_ms > ?) limit 1`,
        )
        .get(cameraId, ms, ms, now),
    )
  }

  /**
   * What the locks in force hold: the bytes of the segments they overlap (each counted once) and
   * how many locks there are. The heartbeat reports both, so the hub can alarm when locked
   * footage crowds the quota.
   */
  lockedUsage(now = this.now()): { bytes: number; locks: number } {
    const bytes = this.db
      .prepare(
        `select coalesce(sum(bytes), 0) as b from segments where id in (
           select s.id from locks l join segments s on s.camera_id = l.camera_id
             and s.start_ms < l.to_ms and s.end_ms > l.from_ms
            where l.until_ms is null or l.until_ms > ?)`,
      )
      .get(now) as { b: number }
    const locks = this.db
      .prepare('select count(distinct id) as n from locks where until_ms is null or until_ms > ?')
      .get(now) as { n: number }
    return { bytes: bytes.b, locks: locks.n }
  }

  /** Closed segments, oldest first: retention's candidates. */
  closedSegmentsOldestFirst(cameraId?: string): SegmentRow[] {
    return this.db
      .prepare(
        `select * from segments where state = 'closed' and (? is null or camera_id = ?) order by start_ms`,
      )
      .all(cameraId ?? null, cameraId ?? null) as SegmentRow[]
  }

  /**
   * Closed segments in the order the agent recorded them (id), a page at a time (retention walks
   * millions of rows this way without loading them): those after `after`, optionally only one
   * camera's and only those the agent last wrote before `recordedBeforeMs` (by its own clock;
   * then in (recorded_ms, id) order, along the index). No time from the camera decides either.
   */
  closedPage(
    options: { cameraId?: string; recordedBeforeMs?: number; after?: { recorded_ms: number; id: number } },
    limit = 200,
  ): SegmentRow[] {
    const a = options.after
    if (options.cameraId !== undefined && options.recordedBeforeMs !== undefined)
      return this.db
        .prepare(
          `select * from segments
            where camera_id = ? and recorded_ms < ? and state = 'closed'
              and (? is null or recorded_ms > ? or (recorded_ms = ? and id > ?))
            order by recorded_ms, id limit ?`,
        )
        .all(
          options.cameraId,
          options.recordedBeforeMs,
          a?.recorded_ms ?? null,
          a?.recorded_ms ?? null,
          a?.recorded_ms ?? null,
          a?.id ?? null,
          limit,
        ) as SegmentRow[]
    return this.db
      .prepare(
        `select * from segments
          where state = 'closed' and (? is null or camera_id = ?) and (? is null or recorded_ms < ?)
            and id > ?
          order by id limit ?`,
      )
      .all(
        options.cameraId ?? null,
        options.cameraId ?? null,
        options.recordedBeforeMs ?? null,
        options.recordedBeforeMs ?? null,
        a?.id ?? 0,
        limit,
      ) as SegmentRow[]
  }

  /**
   * Closed gaps that end before the oldest segment kept of their stream (or of a stream with none
   * left): nobody can play what is around them any more. Open gaps stay (a stream still away).
   */
  pruneGaps(): number {
    return this.db
      .prepare(
        `delete from gaps where to_ms is not null and to_ms <= coalesce(
           (select min(start_ms) from segments s where s.camera_id = gaps.camera_id and s.stream = gaps.stream),
           1e300)`,
      )
      .run().changes
  }

  /** Empties the WAL into the database (see durable-sqlite.ts). */
  checkpoint(): void {
    checkpoint(this.db)
  }

  /** Per camera, the start of its oldest segment kept (wall clock, ms). */
  oldestStartByCamera(): Map<string, number> {
    const rows = this.db
      .prepare('select camera_id, min(start_ms) as start_ms from segments group by camera_id')
      .all() as { camera_id: string; start_ms: number }[]
    return new Map(rows.map((r) => [r.camera_id, r.start_ms]))
  }

  totalBytes(): number {
    return (this.db.prepare('select coalesce(sum(bytes), 0) as b from segments').get() as { b: number }).b
  }

  deleteSegment(id: number): void {
    this.db.prepare('delete from segments where id = ?').run(id)
  }

  close(): void {
    this.db.close()
  }
}
