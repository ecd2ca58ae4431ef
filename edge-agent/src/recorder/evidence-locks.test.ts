import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { SnapshotStore } from '../analytics/snapshot/snapshot-store.ts'
import { RecordingIndex } from './recording-index.ts'
import { enforceRetention } from './retention.ts'

/**
 * Evidence locks on the agent (issue 16): the hub's locks, synced into the recording index, keep
 * their ranges through age, quota and free-space floor until their `until` by the agent's clock;
 * then they release them. Real segment files on disk, real SQLite.
 */
const logger = pino({ level: 'silent' })
const MIN = 60_000
const DAY = 86_400_000
const CAM = '11111111-1111-4111-8111-111111111111'
const OTHER = '22222222-2222-4222-8222-222222222222'
const LOCK = '33333333-3333-4333-8333-333333333333'
const LOCK2 = '44444444-4444-4444-8444-444444444444'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** `n` closed one-minute segments per camera with real 1000-byte files, recorded from `start`. */
function recorded(cameras: string[], n: number, start: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-locks-'))
  dirs.push(dir)
  let clock = start
  const index = new RecordingIndex(path.join(dir, 'index.db'), { now: () => clock })
  for (let i = 0; i < n; i++)
    for (const camera of cameras) {
      clock = start + (i + 1) * MIN
      const file = path.join(dir, `${camera}-${i}.mp4`)
      writeFileSync(file, Buffer.alloc(1000))
      const id = index.openSegment({
        camera_id: camera,
        stream: 'main',
        path: file,
        start_ms: start + i * MIN,
        start_pts: 0,
        codec: 'h264',
        codec_string: 'avc1.4d401e',
        width: 640,
        height: 360,
        parameter_sets: '',
      })
      index.closeSegment(id, 1000, start + (i + 1) * MIN)
    }
  const files = (camera: string) =>
    Array.from({ length: n }, (_, i) => existsSync(path.join(dir, `${camera}-${i}.mp4`)))
  return { dir, index, files, setClock: (ms: number) => (clock = ms) }
}

const noDiskPressure = () => Number.MAX_SAFE_INTEGER

describe('evidence locks in the recording index and retention', () => {
  const start = Date.UTC(2026, 10, 1)

  it('keeps the locked range through a quota of 0 and the age limit, until `until`; then releases it', () => {
    const r = recorded([CAM, OTHER], 10, start)
    const now = start + 40 * DAY
    r.setClock(now)
    // Minutes 3..5 of CAM (segments 3, 4 and 5 overlap [3:30, 5:30)); OTHER is not named.
    r.index.syncLocks([
      { id: LOCK, cameraIds: [CAM], fromMs: start + 3.5 * MIN, toMs: start + 5.5 * MIN, untilMs: now + DAY },
    ])
    expect(r.index.lockedUsage(now)).toEqual({ bytes: 3000, locks: 1 })
    const deleted = enforceRetention(
      r.index,
      { retentionDays: new Map([[CAM, 30]]), quotaBytes: 0, minFreeBytes: 1, dir: r.dir },
      logger,
      now,
      () => 0, // and the disk is full
    )
    expect(deleted).toHaveLength(17)
    expect(r.files(CAM)).toEqual([false, false, false, true, true, true, false, false, false, false])
    expect(r.files(OTHER).every((f) => !f)).toBe(true)
    expect(r.index.totalBytes()).toBe(3000)

    // One millisecond past `until` by the agent's clock: the lock holds nothing, and leaves the index.
    const later = now + DAY + 1
    expect(r.index.lockedUsage(later)).toEqual({ bytes: 0, locks: 0 })
    enforceRetention(
      r.index,
      { retentionDays: new Map(), quotaBytes: 0, dir: r.dir },
      logger,
      later,
      noDiskPressure,
    )
    expect(r.files(CAM).every((f) => !f)).toBe(true)
    expect(r.index.db.prepare('select count(*) as n from locks').get()).toEqual({ n: 0 })
    r.index.close()
  })

  it('syncs to exactly the configuration: removed locks go, expired ones are left out, several cameras', () => {
    const r = recorded([CAM, OTHER], 4, start)
    const now = start + DAY
    r.setClock(now)
    r.index.syncLocks([
      { id: LOCK, cameraIds: [CAM, OTHER], fromMs: start, toMs: start + MIN, untilMs: now + DAY },
      { id: LOCK2, cameraIds: [CAM], fromMs: start + 2 * MIN, toMs: start + 3 * MIN, untilMs: now - 1 },
    ])
    const rows = () =>
      r.index.db.prepare('select id, camera_id from locks order by id, camera_id').all() as {
        id: string
        camera_id: string
      }[]
    expect(rows()).toEqual([
      { id: LOCK, camera_id: CAM },
      { id: LOCK, camera_id: OTHER },
    ])
    // Overlapping locks count each segment once.
    r.index.syncLocks([
      { id: LOCK, cameraIds: [CAM], fromMs: start, toMs: start + 2 * MIN, untilMs: now + DAY },
      { id: LOCK2, cameraIds: [CAM], fromMs: start + 30_000, toMs: start + 90_000, untilMs: now + DAY },
    ])
    expect(r.index.lockedUsage(now)).toEqual({ bytes: 2000, locks: 2 })
    r.index.syncLocks([])
    expect(rows()).toEqual([])
    enforceRetention(
      r.index,
      { retentionDays: new Map(), quotaBytes: 0, dir: r.dir },
      logger,
      now,
      noDiskPressure,
    )
    expect(r.files(CAM).every((f) => !f)).toBe(true)
    r.index.close()
  })

  it('upgrades an index whose locks table predates `until` (its locks kept, without an end)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-locks-old-'))
    dirs.push(dir)
    const file = path.join(dir, 'index.db')
    const old = new Database(file)
    old.exec(`create table locks (id text primary key, camera_id text not null, from_ms real not null,
      to_ms real not null, reason text, created_ms real not null);
      insert into locks values ('old', '${CAM}', 10, 20, 'kept', 1)`)
    old.close()
    const index = new RecordingIndex(file)
    expect(
      index.db.prepare('select id, camera_id, from_ms, to_ms, until_ms, reason from locks').all(),
    ).toEqual([{ id: 'old', camera_id: CAM, from_ms: 10, to_ms: 20, until_ms: null, reason: 'kept' }])
    expect(index.isLockedAt(CAM, 15, Date.now() + 100 * 365 * DAY)).toBe(true)
    index.close()
    // Opening again changes nothing.
    const again = new RecordingIndex(file)
    expect(again.db.prepare('select count(*) as n from locks').get()).toEqual({ n: 1 })
    again.close()
  })

  it('keeps snapshots a lock covers past their retention', () => {
    const r = recorded([CAM], 1, start)
    const now = start + 40 * DAY
    r.index.syncLocks(
      [{ id: LOCK, cameraIds: [CAM], fromMs: start, toMs: start + MIN, untilMs: now + DAY }],
      now,
    )
    const snapshots = new SnapshotStore(r.dir)
    const kept = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'
    const gone = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xd9])
    snapshots.save({ cameraId: CAM, eventId: kept, frameTime: start + 30_000, box: [0, 0, 1, 1] }, jpeg)
    snapshots.save({ cameraId: CAM, eventId: gone, frameTime: start + 2 * MIN, box: [0, 0, 1, 1] }, jpeg)
    const locked = (cameraId: string, ms: number) => r.index.isLockedAt(cameraId, ms, now)
    expect(snapshots.enforceRetention(new Map([[CAM, 30]]), 30, now, locked)).toBe(1)
    expect(snapshots.read(CAM, kept)).toBeDefined()
    expect(snapshots.read(CAM, gone)).toBeUndefined()
    // Past `until`, it goes too.
    const after = (cameraId: string, ms: number) => r.index.isLockedAt(cameraId, ms, now + 2 * DAY)
    expect(snapshots.enforceRetention(new Map([[CAM, 30]]), 30, now + 2 * DAY, after)).toBe(1)
    r.index.close()
  })
})
