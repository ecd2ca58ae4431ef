import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { loadClip } from '../../../scripts/camera-sim/clip.ts'
import { h264StreamInfo } from '../../test/helpers/clip-frames.ts'
import type { AccessUnit } from '../media/codec/access-unit.ts'
import { Timeline } from '../media/rtp/timeline.ts'
import type { StreamInfo } from '../media/rtsp/client.ts'
import { Recorder } from './recorder.ts'
import { RecordingIndex } from './recording-index.ts'
import { enforceRetention } from './retention.ts'

/**
 * The recorder fed synthetic frames (the simulator's clip, 15 fps, a keyframe a second) through a
 * real Timeline on a fake agent clock: hostile timestamps and camera clocks, without a network.
 */
const clips = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/camera-sim/clips')
const clip = loadClip(path.join(clips, 'sim-h264.h264'), 'h264', 15)
const logger = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 10, 28, 12)
const HOUR = 3600 * 90_000
const DAY = 24 * HOUR
const TWENTY_YEARS_MS = 20 * 365.25 * 86_400_000
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function setup(segmentSeconds = 60) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-rec-time-'))
  dirs.push(dir)
  const index = new RecordingIndex(path.join(dir, 'index.db'))
  const recorder = new Recorder({ cameraId: 'cam', stream: 'main', dir, index, segmentSeconds, logger })
  const info: StreamInfo = h264StreamInfo()
  recorder.start(info)
  let now = T0
  let rtp = 1_000_000
  let i = 0
  const timeline = new Timeline(90_000, () => now)
  return {
    dir,
    index,
    recorder,
    timeline,
    /** `seconds` of frames arriving on time; a sender report every second when `ntpOffsetMs` is set. */
    async play(seconds: number, ntpOffsetMs?: number) {
      for (let n = 0; n < seconds * 15; n++, i++) {
        if (ntpOffsetMs !== undefined && i % 15 === 0) timeline.senderReport(rtp, now + ntpOffsetMs)
        const f = clip.frames[i % clip.frames.length] as (typeof clip.frames)[number]
        const timestamp = timeline.unwrapTimestamp(rtp)
        const au: AccessUnit = {
          codec: 'h264',
          timestamp,
          wallMs: timeline.wallClock(timestamp, now),
          nalus: f.nalus,
          keyframe: f.keyframe,
          damaged: false,
        }
        await recorder.frame(au)
        rtp = (rtp + 6000) >>> 0
        now += 1000 / 15
      }
    },
    jump(ticks: number) {
      rtp = (rtp + ticks) >>> 0
    },
    get now() {
      return now
    },
  }
}

describe('Recorder: time stays on the agent clock, whatever the camera says', () => {
  for (const [name, ticks] of [
    ['back by an hour', -HOUR],
    ['forward by a day', DAY],
  ] as const) {
    it(`a jump ${name} in RTP time closes the segment; the next one starts on a keyframe and its fragments complete`, async () => {
      const r = setup()
      await r.play(10)
      r.jump(ticks)
      await r.play(10)
      // Before stop: what reached disk after the jump is durable, fragment by fragment.
      const segments = r.index.segmentsBetween('cam', 0, Number.MAX_SAFE_INTEGER)
      expect(segments.map((s) => s.state)).toEqual(['closed', 'open'])
      const [first, second] = segments as [(typeof segments)[0], (typeof segments)[0]]
      expect(r.index.fragments(second.id).length).toBeGreaterThanOrEqual(7)
      // Wall-clock times are the agent's: no hour or day off, no overlap, at most a GOP lost.
      expect(first.start_ms).toBe(T0)
      expect(Math.abs(first.end_ms - (T0 + 10_000))).toBeLessThanOrEqual(1000)
      expect(second.start_ms).toBeGreaterThanOrEqual(first.end_ms)
      expect(second.start_ms - (T0 + 10_000)).toBeLessThanOrEqual(1000)
      expect(Math.abs(second.end_ms - r.now)).toBeLessThanOrEqual(1100)
      expect(r.timeline.status.discontinuities).toBe(1)
      // The frames lost to the jump are a gap, as after a reconnect.
      expect(r.index.gapsBetween('cam', 0, Number.MAX_SAFE_INTEGER)).toHaveLength(1)
      await r.recorder.stop('test')
      r.index.close()
    })
  }

  it('keeps a camera clock 20 years in the past out of segment times and out of retention', async () => {
    const r = setup(4)
    await r.play(12, -TWENTY_YEARS_MS)
    await r.recorder.stop('test')
    const segments = r.index.closedSegmentsOldestFirst('cam')
    expect(segments.length).toBeGreaterThanOrEqual(2)
    for (const s of segments) {
      expect(s.start_ms).toBeGreaterThanOrEqual(T0)
      expect(s.end_ms).toBeLessThanOrEqual(r.now + 100)
    }
    expect(r.timeline.status.drift).toBe(true)
    const deleted = enforceRetention(
      r.index,
      { retentionDays: new Map([['cam', 30]]), dir: r.dir },
      logger,
      r.now,
      () => Number.MAX_SAFE_INTEGER,
    )
    expect(deleted).toEqual([])
    r.index.close()
  })
})
