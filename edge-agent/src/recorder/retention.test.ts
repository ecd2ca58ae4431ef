import { mkdtempSync, rmSync } from 'node:fs'
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

/** An index of `n` closed one-minute segments per camera (no files: retention only removes them). */
function filled(cameras: string[], n: number, startMs: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-retention-'))
  dirs.push(dir)
  const index = new RecordingIndex(path.join(dir, 'index.db'))
  index.db.transaction(() => {
    for (let i = 0; i < n; i++)
      for (const camera of cameras) {
        const id = index.openSegment({
          camera_id: camera,
          stream: 'main',
          path: path.join(dir, `${camera}-${i}.mp4`),
          start_ms: startMs + i * 60_000,
          start_pts: 0,
          codec: 'h264',
          codec_string: 'avc1.4d401e',
          width: 640,
          height: 360,
          parameter_sets: '',
        })
        index.closeSegment(id, 1000, startMs + (i + 1) * 60_000)
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
    expect(index.closedPage({ cameraId: 'a', endedBeforeMs: now - day })).toEqual([])
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
