import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { RecordingIndex } from './recording-index.ts'
import { enforceRetention } from './retention.ts'

const logger = pino({ level: 'silent' })
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/**
 * An index of `n` closed one-minute segments per camera (no files: retention only removes them),
 * recorded by the agent at `startMs` on; `cameraSkewMs` puts the times the camera claimed elsewhere.
 */
function filled(cameras: string[], n: number, startMs: number, cameraSkewMs = 0) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-retention-'))
  dirs.push(dir)
  let clock = startMs
  const index = new RecordingIndex(path.join(dir, 'index.db'), { now: () => clock })
  index.db.transaction(() => {
    for (let i = 0; i < n; i++)
      for (const camera of cameras) {
        clock = startMs + (i + 1) * 60_000
        const id = index.openSegment({
          camera_id: camera,
          stream: 'main',
          path: path.join(dir, `${camera}-${i}.mp4`),
          start_ms: startMs + cameraSkewMs + i * 60_000,
          start_pts: 0,
          codec: 'h264',
          codec_string: 'avc1.4d401e',
          width: 640,
          height: 360,
          parameter_sets: '',
        })
        index.closeSegment(id, 1000, startMs + cameraSkewMs + (i + 1) * 60_000)
      }
  })()
  return { dir, index }
}

describe('retention', () => {
  const day = 86_400_000
  const now = Date.UTC(2026, 10, 24)

  it('keeps each camera its own number of days, across many pages of segments', () => {
    const { dir, index } = filled(['a', 'b'], 3 * 24 * 60, now - 3 * day)
    const deleted = enforceRetention(
      index,
      {
        retentionDays: new Map([
          ['a', 1],
          ['b', 2],
        ]),
        dir,
      },
      logger,
      now,
      () => Number.MAX_SAFE_INTEGER,
    )
    // A segment ending exactly at the limit is not older than it, and stays.
    expect(deleted.filter((d) => d.camera_id === 'a')).toHaveLength(2 * 24 * 60 - 1)
    expect(deleted.filter((d) => d.camera_id === 'b')).toHaveLength(24 * 60 - 1)
    expect(index.closedPage({ cameraId: 'a', recordedBeforeMs: now - day })).toEqual([])
    expect(index.closedPage({ cameraId: 'a' }, 1)[0]?.end_ms).toBe(now - day)
    index.close()
  })

  it('brings the total under the quota oldest first, skipping locked segments on any page', () => {
    const { dir, index } = filled(['a'], 1000, now - day)
    index.lock({ id: 'l1', cameraId: 'a', fromMs: now - day + 10, toMs: now - day + 20 })
    index.lock({
      id: 'l2',
      cameraId: 'a',
      fromMs: now - day + 450 * 60_000 + 10,
      toMs: now - day + 450 * 60_000 + 20,
    })
    const deleted = enforceRetention(
      index,
      { retentionDays: new Map(), quotaBytes: 300 * 1000, dir },
      logger,
      now,
    )
    expect(index.totalBytes()).toBe(300 * 1000)
    expect(deleted).toHaveLength(700)
    const kept = index.closedPage({}, 2)
    expect(kept.map((s) => s.start_ms)).toEqual([now - day, now - day + 450 * 60_000])
    index.close()
  })
})

describe('retention on a file another process holds open (Windows sharing rules)', () => {
  const day = 86_400_000
  const now = Date.UTC(2026, 10, 24)

  it('keeps a segment it cannot delete (and its index row), removes the next ones instead, and retries it', () => {
    const { dir, index } = filled(['a'], 10, now - day)
    const heldOpen = new Set([0, 1].map((i) => path.join(dir, `a-${i}.mp4`)))
    const removed: string[] = []
    const removeFile = (p: string) => {
      if (heldOpen.has(p))
        throw Object.assign(new Error(`EBUSY: resource busy or locked, unlink '${p}'`), { code: 'EBUSY' })
      removed.push(p)
    }
    const policy = { retentionDays: new Map(), quotaBytes: 5 * 1000, dir }
    const first = enforceRetention(index, policy, logger, now, undefined, removeFile)
    // The two held open stay; the quota is met by the next five oldest.
    expect(first.map((s) => path.basename(s.path))).toEqual([
      'a-2.mp4',
      'a-3.mp4',
      'a-4.mp4',
      'a-5.mp4',
      'a-6.mp4',
    ])
    expect(index.totalBytes()).toBe(5 * 1000)
    // Released: the next pass (a new segment pushed the total over) removes the oldest first again.
    heldOpen.clear()
    const second = enforceRetention(
      index,
      { ...policy, quotaBytes: 3 * 1000 },
      logger,
      now,
      undefined,
      removeFile,
    )
    expect(second.map((s) => path.basename(s.path))).toEqual(['a-0.mp4', 'a-1.mp4'])
    // Any other failure is not hidden.
    const broken = () => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })
    }
    expect(() =>
      enforceRetention(index, { ...policy, quotaBytes: 0 }, logger, now, undefined, broken),
    ).toThrow(/EIO/)
    index.close()
  })
})

describe('retention never trusts a time from the camera', () => {
  const day = 86_400_000
  const now = Date.UTC(2026, 10, 24)
  const TWENTY_YEARS_MS = 20 * 365.25 * day

  it('keeps footage a camera dated 20 years in the past: age is on the agent clock', () => {
    // Recorded over the last hour by the agent; the camera's clock said 2006.
    const { dir, index } = filled(['a'], 60, now - 3_600_000, -TWENTY_YEARS_MS)
    const deleted = enforceRetention(
      index,
      { retentionDays: new Map([['a', 30]]), dir },
      logger,
      now,
      () => Number.MAX_SAFE_INTEGER,
    )
    expect(deleted).toEqual([])
    expect(index.closedSegmentsOldestFirst('a')).toHaveLength(60)
    // Once the agent's clock says they are old, they go.
    expect(
      enforceRetention(
        index,
        { retentionDays: new Map([['a', 30]]), dir },
        logger,
        now + 31 * day,
        () => Number.MAX_SAFE_INTEGER,
      ),
    ).toHaveLength(60)
    index.close()
  })

  it('ages and orders future-dated segments by when the agent recorded them', () => {
    const { dir, index } = filled(['a'], 10, now - day)
    // Two days ago, a camera dated 20 years ahead recorded ten.
    const { index: other } = { index }
    let clock = now - 2 * day
    const future = new RecordingIndex(path.join(dir, 'index.db'), { now: () => clock })
    for (let i = 0; i < 10; i++) {
      clock += 60_000
      const id = future.openSegment({
        camera_id: 'b',
        stream: 'main',
        path: path.join(dir, `b-${i}.mp4`),
        start_ms: now + TWENTY_YEARS_MS + i * 60_000,
        start_pts: 0,
        codec: 'h264',
        codec_string: 'avc1.4d401e',
        width: 640,
        height: 360,
        parameter_sets: '',
      })
      future.closeSegment(id, 1000, now + TWENTY_YEARS_MS + (i + 1) * 60_000)
    }
    future.close()
    const deleted = enforceRetention(
      other,
      { retentionDays: new Map([['b', 1]]), quotaBytes: 5 * 1000, dir },
      logger,
      now,
    )
    // Age takes all of b (recorded two days ago), then the quota a's oldest five.
    expect(deleted.map((d) => d.camera_id)).toEqual([...Array(10).fill('b'), ...Array(5).fill('a')])
    index.close()
  })
})

describe('retention keeps the index small', () => {
  const now = Date.UTC(2026, 10, 24)

  it('prunes gaps older than the oldest segment kept', () => {
    const { dir, index } = filled(['a', 'b'], 10, now - 3_600_000)
    for (const camera of ['a', 'b']) {
      index.openGap(camera, 'main', now - 2 * 3_600_000, 'camera dropped')
      index.closeGap(camera, 'main', now - 3_600_000)
      index.openGap(camera, 'main', now - 3_600_000 + 150_000, 'stalled')
      index.closeGap(camera, 'main', now - 3_600_000 + 150_100)
    }
    index.openGap('a', 'main', now - 3_600_000 + 10 * 60_000, 'camera dropped') // still open
    enforceRetention(index, { retentionDays: new Map(), quotaBytes: 15 * 1000, dir }, logger, now)
    const gaps = (camera: string) =>
      index.gapsBetween(camera, 0, Number.MAX_SAFE_INTEGER).map((g) => g.reason)
    // Oldest recorded first: a0 b0 a1 b1 a2 go. a keeps from 3 min on, b from 2 min on.
    expect(gaps('a')).toEqual(['camera dropped'])
    expect(index.gapsBetween('a', 0, Number.MAX_SAFE_INTEGER)[0]?.to_ms).toBeNull()
    expect(gaps('b')).toEqual(['stalled'])
    index.close()
  })

  it('checkpoints the WAL so it does not keep megabytes on a small disk', () => {
    const { dir, index } = filled(['a'], 2, now - 3_600_000)
    const id = index.closedPage({})[1]?.id as number
    for (let i = 1; i <= 1500; i++)
      index.addFragment(id, { offsetEnd: i * 1000, startMs: now, endMs: now + i, endPts: i, frames: i })
    const wal = () => statSync(path.join(dir, 'index.db-wal')).size
    // The WAL is bounded while writing, and emptied after retention.
    expect(wal()).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024)
    expect(
      enforceRetention(index, { retentionDays: new Map(), quotaBytes: 1500 * 1000, dir }, logger, now),
    ).toHaveLength(1)
    expect(wal()).toBe(0)
    index.close()
  })
})
