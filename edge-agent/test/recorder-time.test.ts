import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { CameraStream } from '../src/media/core/camera-stream.ts'
import { Recorder } from '../src/recorder/recorder.ts'
import { RecordingIndex } from '../src/recorder/recording-index.ts'
import { enforceRetention } from '../src/recorder/retention.ts'
import { ffprobePath, probe } from './helpers/ffprobe.ts'
import { type HostileMode, startHostileRtspServer } from './helpers/hostile-rtsp-server.ts'

/**
 * The recorder against hostile cameras' clocks, end to end over RTSP (issue 11): RTP timestamps
 * that jump back an hour, and RTCP sender reports 20 years in the past. Segment times stay on the
 * agent's clock, fragments keep reaching disk, and retention deletes nothing it should keep.
 */
const logger = pino({ level: 'silent' })
const dirs: string[] = []
const closers: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of closers.splice(0)) await c()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function record(mode: HostileMode, segmentSeconds: number) {
  const server = await startHostileRtspServer({ mode })
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-rec-time-'))
  dirs.push(dir)
  const index = new RecordingIndex(path.join(dir, 'index.db'))
  const stream = new CameraStream(mode, { url: server.url }, logger)
  const recorder = new Recorder({ cameraId: 'cam', stream: 'main', dir, index, segmentSeconds, logger })
  const sub = stream.producer.subscribe(recorder)
  const stop = async () => {
    await stream.stop()
    await sub.idle()
    await recorder.stop('test')
    index.close()
    await server.close()
  }
  closers.push(stop)
  stream.start()
  return { server, index, recorder, dir, stop: () => closers.splice(closers.indexOf(stop), 1)[0]?.() }
}

describe.skipIf(!ffprobePath)('recorder against hostile camera clocks', () => {
  it('a camera whose timestamps jump back an hour: a new segment at once, fragments keep reaching disk', async () => {
    const startedAt = Date.now()
    const r = await record('timestamp-jump-back', 60)
    // Two fragments of the segment after the jump are durable while the camera streams (before the
    // fix nothing after the jump reached disk for an hour).
    await expect
      .poll(
        () => {
          const open = r.index.openSegments()[0]
          return r.index.segmentsBetween('cam', 0, Number.MAX_SAFE_INTEGER).length >= 2 && open
            ? r.index.fragments(open.id).length
            : 0
        },
        { timeout: 30_000 },
      )
      .toBeGreaterThanOrEqual(2)
    expect(r.server.stats.jumps).toBeGreaterThanOrEqual(1)
    expect(r.recorder.timeHealth.timestampJumps).toBeGreaterThanOrEqual(1)
    await r.stop()
    const index = new RecordingIndex(path.join(r.dir, 'index.db'))
    const segments = index.segmentsBetween('cam', 0, Number.MAX_SAFE_INTEGER)
    expect(segments.length).toBeGreaterThanOrEqual(2)
    for (const s of segments) {
      // On the agent's clock: nothing an hour off.
      expect(s.start_ms).toBeGreaterThanOrEqual(startedAt - 1000)
      expect(s.end_ms).toBeLessThanOrEqual(Date.now() + 1000)
      expect(s.end_ms).toBeGreaterThan(s.start_ms)
      expect(probe(s.path).frames).toBeGreaterThanOrEqual(s.frames)
    }
    for (let i = 1; i < segments.length; i++)
      expect(segments[i]?.start_ms).toBeGreaterThanOrEqual((segments[i - 1]?.end_ms ?? 0) - 100)
    index.close()
  })

  it('a camera whose clock is 20 years in the past: times from the agent, drift in health, nothing deleted', async () => {
    const startedAt = Date.now()
    const r = await record('clock-in-past', 1)
    await expect
      .poll(() => r.index.closedSegmentsOldestFirst('cam').length, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(3)
    for (const s of r.index.closedSegmentsOldestFirst('cam')) {
      expect(s.start_ms).toBeGreaterThanOrEqual(startedAt - 1000)
      expect(s.end_ms).toBeLessThanOrEqual(Date.now() + 1000)
    }
    // Camera health shows the drift (the camera's clock minus the agent's).
    expect(r.recorder.timeHealth.clockDriftMs).toBeLessThan(-19 * 365 * 86_400_000)
    const deleted = enforceRetention(
      r.index,
      { retentionDays: new Map([['cam', 30]]), dir: r.dir },
      logger,
      Date.now(),
      () => Number.MAX_SAFE_INTEGER,
    )
    expect(deleted).toEqual([])
    await r.stop()
  })
})
