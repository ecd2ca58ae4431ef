import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { CameraStream } from '../src/media/core/camera-stream.ts'
import { exportRange, RangeUnavailableError } from '../src/recorder/export.ts'
import { Recorder } from '../src/recorder/recorder.ts'
import { RecordingIndex } from '../src/recorder/recording-index.ts'
import { ffprobePath, probe } from './helpers/ffprobe.ts'
import { waitUntil } from './helpers/wait.ts'

const logger = pino({ level: 'silent' })
let sim: CameraSimulator
let dir: string
let index: RecordingIndex
let stream: CameraStream
let recorder: Recorder

/** Timestamps and picture types of the file's frames, by decoding it. */
function frameTypes(file: string): { pts: number; key: boolean }[] {
  const out = execFileSync(
    ffprobePath as string,
    ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=pts_time,key_frame', '-of', 'json', file],
    { encoding: 'utf8' },
  )
  return (JSON.parse(out) as { frames: { pts_time: string; key_frame: number }[] }).frames.map((f) => ({
    pts: Number(f.pts_time),
    key: f.key_frame === 1,
  }))
}

const ffmpegPath = (ffprobePath ?? '').replace(/ffprobe$/, 'ffmpeg')

function audioStream(file: string) {
  const out = execFileSync(
    ffprobePath as string,
    [
      '-v',
      'error',
      '-select_streams',
      'a',
      '-count_packets',
      '-show_entries',
      'stream=codec_name,sample_rate,channels,nb_read_packets',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  )
  return (JSON.parse(out) as { streams: Record<string, string | number>[] }).streams[0] ?? {}
}

describe.skipIf(!ffprobePath)('export', () => {
  beforeAll(async () => {
    sim = await CameraSimulator.start({ streams: [{ name: 'cam', codec: 'h264', audio: true }] })
    dir = mkdtempSync(path.join(tmpdir(), 'vms-export-'))
    index = new RecordingIndex(path.join(dir, 'index.db'))
    stream = new CameraStream('cam', { url: sim.url('cam') }, logger)
    recorder = new Recorder({ cameraId: 'cam-1', stream: 'main', dir, index, segmentSeconds: 2, logger })
    stream.producer.subscribe(recorder)
    stream.start()
    // Four closed segments (about 8 s) and one being written.
    await waitUntil(() => index.closedSegmentsOldestFirst('cam-1').length >= 4, 30_000, 'four segments')
  })
  afterAll(async () => {
    await stream?.stop()
    index?.close()
    await sim?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('exports a range across segments as one MP4 that starts at the keyframe at or before "from"', async () => {
    const segments = index.closedSegmentsOldestFirst('cam-1')
    const s0 = segments[0] as (typeof segments)[number]
    const s3 = segments[3] as (typeof segments)[number]
    // From inside the first segment (between keyframes) to inside the fourth.
    const fromMs = s0.start_ms + 1500
    const toMs = s3.start_ms + 700
    const out = path.join(dir, 'range.mp4')
    const result = await exportRange(index, { cameraId: 'cam-1', fromMs, toMs }, out)
    expect(result.segments).toBe(4)
    expect(result.startMs).toBeLessThanOrEqual(fromMs)
    // The clip's GOP is one second: the start is the last keyframe before "from".
    expect(fromMs - result.startMs).toBeLessThan(1000 + 1)
    const p = probe(out)
    expect(p).toMatchObject({ codec: 'h264', width: 640, height: 360, frames: result.frames })
    // Duration: the asked range plus the lead-in to the keyframe, within a frame.
    const expected = (Math.min(toMs, result.endMs) - result.startMs) / 1000
    expect(Math.abs(p.duration - expected)).toBeLessThan(0.1)
    expect(p.duration).toBeGreaterThan((toMs - fromMs) / 1000 - 0.1)
    // The camera's AAC audio comes along, over the same span, and decodes cleanly.
    const audio = audioStream(out)
    expect(audio).toMatchObject({ codec_name: 'aac', sample_rate: '16000', channels: 1 })
    expect(Number(audio.nb_read_packets)).toBe(result.audioFrames)
    expect(result.audioFrames / p.duration).toBeGreaterThan(14)
    expect(result.audioFrames / p.duration).toBeLessThan(16.5)
    const decode = spawnSync(ffmpegPath, ['-v', 'error', '-i', out, '-f', 'null', '-'], { encoding: 'utf8' })
    expect(decode.stderr).toBe('')
    const frames = frameTypes(out)
    expect(frames[0]).toMatchObject({ key: true })
    expect(frames[0]?.pts).toBeCloseTo(0, 3)
    // The SHA-256 is of the file as written.
    const sha = execFileSync('sha256sum', [out], { encoding: 'utf8' }).split(' ')[0]
    expect(result.sha256).toBe(sha)
  })

  it('exports up to the last durable fragment of the segment being written', async () => {
    const open = index.openSegments()[0]
    expect(open).toBeDefined()
    await expect.poll(() => index.segment(open?.id ?? 0)?.frames ?? 0, { timeout: 10_000 }).toBeGreaterThan(0)
    const row = index.segment(open?.id ?? 0) as NonNullable<ReturnType<typeof index.segment>>
    const out = path.join(dir, 'live.mp4')
    const result = await exportRange(
      index,
      { cameraId: 'cam-1', fromMs: row.start_ms, toMs: Date.now() + 60_000 },
      out,
    )
    expect(result.startMs).toBe(row.start_ms)
    expect(result.frames).toBeGreaterThanOrEqual(row.frames)
    expect(probe(out).frames).toBe(result.frames)
  })

  it('refuses a range it does not hold, saying why', async () => {
    const out = path.join(dir, 'none.mp4')
    await expect(
      exportRange(index, { cameraId: 'cam-1', fromMs: 1_000_000, toMs: 2_000_000 }, out),
    ).rejects.toThrow(/older than the oldest recording/)
    await expect(
      exportRange(index, { cameraId: 'other', fromMs: 1_000_000, toMs: 2_000_000 }, out),
    ).rejects.toBeInstanceOf(RangeUnavailableError)
    await expect(exportRange(index, { cameraId: 'cam-1', fromMs: 5, toMs: 5 }, out)).rejects.toThrow(/empty/)
  })
})
