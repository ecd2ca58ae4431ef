import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { CameraStream } from '../src/media/core/camera-stream.ts'
import { Recorder } from '../src/recorder/recorder.ts'
import { RecordingIndex } from '../src/recorder/recording-index.ts'
import { repairRecordings } from '../src/recorder/repair.ts'
import { enforceRetention } from '../src/recorder/retention.ts'
import { ffprobePath, probe } from './helpers/ffprobe.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const logger = pino({ level: 'silent' })
let sim: CameraSimulator
const dirs: string[] = []
beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'h264', codec: 'h264' },
      { name: 'h265', codec: 'h265', auth: { username: 'rec', password: 'Rec-Pass-1234' } },
      { name: 'kill', codec: 'h264' },
    ],
  })
})
afterAll(async () => {
  await sim?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-rec-'))
  dirs.push(dir)
  return { dir, index: new RecordingIndex(path.join(dir, 'index.db')) }
}

describe.skipIf(!ffprobePath)('recorder', () => {
  for (const [name, transport] of [
    ['h264', 'tcp'],
    ['h265', 'udp'],
  ] as const) {
    it(`records ${name} over ${transport} into keyframe-aligned segments that ffprobe decodes fully`, async () => {
      const { dir, index } = workspace()
      const stream = new CameraStream(
        name,
        {
          url: sim.url(name, name === 'h265' ? { username: 'rec', password: 'Rec-Pass-1234' } : undefined),
          transport,
        },
        logger,
      )
      const recorder = new Recorder({
        cameraId: 'cam-1',
        stream: 'main',
        dir,
        index,
        segmentSeconds: 2,
        logger,
      })
      const sub = stream.producer.subscribe(recorder)
      stream.start()
      await expect
        .poll(() => index.closedSegmentsOldestFirst().length, { timeout: 30_000 })
        .toBeGreaterThanOrEqual(3)
      await stream.stop()
      await sub.idle()
      const segments = index.closedSegmentsOldestFirst('cam-1')
      expect(segments.length).toBeGreaterThanOrEqual(3)
      for (const s of segments) {
        const p = probe(s.path)
        expect(p).toMatchObject({ codec: name === 'h264' ? 'h264' : 'hevc', width: 640, height: 360 })
        expect(p.frames).toBe(s.frames)
        // The index's time range matches the media within one frame.
        expect(Math.abs(p.duration * 1000 - (s.end_ms - s.start_ms))).toBeLessThan(1000 / 15 + 1)
        expect(index.fragments(s.id).length).toBeGreaterThanOrEqual(1)
      }
      // Segments follow each other without holes while the camera streams.
      for (let i = 1; i < segments.length; i++) {
        expect(Math.abs((segments[i]?.start_ms ?? 0) - (segments[i - 1]?.end_ms ?? 0))).toBeLessThan(100)
      }
      index.close()
    })
  }

  it('records the gap while a camera is away and starts a new segment when it returns', async () => {
    const { dir, index } = workspace()
    const stream = new CameraStream('h264', { url: sim.url('h264') }, logger, { initialMs: 200, maxMs: 500 })
    const gaps: { fromMs: number; toMs: number; reason: string }[] = []
    const recorder = new Recorder({
      cameraId: 'cam-2',
      stream: 'main',
      dir,
      index,
      segmentSeconds: 60,
      logger,
      onGap: (g) => gaps.push(g),
    })
    stream.producer.subscribe(recorder)
    stream.start()
    await expect.poll(() => recorder.frames, { timeout: 20_000 }).toBeGreaterThan(20)
    sim.fault('h264', 'drop')
    await expect.poll(() => gaps.length, { timeout: 20_000 }).toBe(1)
    await expect
      .poll(() => index.closedSegmentsOldestFirst('cam-2').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(1)
    await stream.stop()
    const gap = gaps[0] as { fromMs: number; toMs: number; reason: string }
    expect(gap.toMs).toBeGreaterThan(gap.fromMs)
    expect(gap.reason).toMatch(/closed/)
    expect(index.gapsBetween('cam-2', gap.fromMs - 1, gap.toMs + 1)).toHaveLength(1)
    const segments = index.segmentsBetween('cam-2', 0, Date.now() + 1000)
    expect(segments).toHaveLength(2)
    index.close()
  })

  it('loses at most about two seconds when the recorder is killed with SIGKILL, and every segment still plays', async () => {
    const { dir } = workspace()
    const indexFile = path.join(dir, 'index.db')
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'edge-agent/test/helpers/record-child.ts', sim.url('kill'), dir, indexFile],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let frames = 0
    child.stdout.on('data', (d: Buffer) => {
      const m = /frames (\d+)\s*$/.exec(d.toString())
      if (m) frames = Number(m[1])
    })
    // About 7.5 s of video: two closed 3-second segments and one open.
    await expect.poll(() => frames, { timeout: 30_000, interval: 50 }).toBeGreaterThan(112)
    const killedAt = Date.now()
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const index = new RecordingIndex(indexFile)
    expect(index.openSegments()).toHaveLength(1)
    const result = repairRecordings(index, logger)
    expect(result.repaired).toBe(1)
    const segments = index.closedSegmentsOldestFirst('cam')
    expect(segments.length).toBeGreaterThanOrEqual(2)
    for (const s of segments) {
      expect(existsSync(s.path)).toBe(true)
      const p = probe(s.path)
      expect(p.frames).toBeGreaterThan(0)
      expect(p.frames).toBeGreaterThanOrEqual(s.frames)
    }
    const lost = killedAt - (segments.at(-1)?.end_ms ?? 0)
    console.log(
      `SIGKILL: ${segments.length} segments kept; the last durable frame was ${lost} ms before the kill`,
    )
    expect(lost).toBeLessThan(2500)
    index.close()
  })

  it('keeps the disk under its quota, oldest first, sparing locked ranges, and drops segments past their age', async () => {
    const { dir, index } = workspace()
    const stream = new CameraStream('h264', { url: sim.url('h264') }, logger)
    const recorder = new Recorder({
      cameraId: 'cam-3',
      stream: 'main',
      dir,
      index,
      segmentSeconds: 1,
      logger,
    })
    const sub = stream.producer.subscribe(recorder)
    stream.start()
    await expect
      .poll(() => index.closedSegmentsOldestFirst().length, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(6)
    await stream.stop()
    await sub.idle()
    const all = index.closedSegmentsOldestFirst()
    const locked = all[1] as (typeof all)[number]
    // Inside the segment (a lock that spans a boundary protects both neighbours).
    index.lock({
      id: 'evidence-1',
      cameraId: 'cam-3',
      fromMs: locked.start_ms + 200,
      toMs: locked.end_ms - 200,
      reason: 'incident 42',
    })
    const quota = all.slice(-2).reduce((n, s) => n + s.bytes, 0) + locked.bytes
    const deleted = enforceRetention(index, { retentionDays: new Map(), quotaBytes: quota, dir }, logger)
    expect(index.totalBytes()).toBeLessThanOrEqual(quota)
    expect(deleted.map((d) => d.id)).not.toContain(locked.id)
    expect(deleted[0]?.id).toBe(all[0]?.id) // oldest first
    for (const d of deleted) expect(existsSync(d.path)).toBe(false)
    // A free-space floor that cannot be met removes everything unlocked, and still not the lock.
    enforceRetention(
      index,
      { retentionDays: new Map(), minFreeBytes: Number.MAX_SAFE_INTEGER, dir },
      logger,
      Date.now(),
      () => 0,
    )
    expect(index.closedSegmentsOldestFirst().map((s) => s.id)).toEqual([locked.id])
    // Age: two days on, with one day's retention, even the lock's neighbours go; the lock stays.
    index.unlock('evidence-1')
    enforceRetention(
      index,
      { retentionDays: new Map([['cam-3', 1]]), dir },
      logger,
      Date.now() + 2 * 86_400_000,
    )
    expect(index.closedSegmentsOldestFirst()).toEqual([])
    index.close()
  })
})
