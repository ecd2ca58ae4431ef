import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { type Clip, loadClip } from '../../../../scripts/camera-sim/clip.ts'
import { type AccessUnit, splitAnnexB } from '../../media/codec/access-unit.ts'
import { h264NalType } from '../../media/codec/h264.ts'
import { h265NalType } from '../../media/codec/h265.ts'
import { Producer } from '../../media/core/producer.ts'
import { findFfmpeg } from '../../media/ffmpeg.ts'
import type { StreamInfo } from '../../media/rtsp/client.ts'
import type { Frame } from '../types.ts'
import {
  accessUnitProblem,
  analyticsFrameSize,
  DECODER_HOLD_BACK,
  decoderInput,
  FrameDecoder,
  type FrameDecoderOptions,
  FrameRateLimiter,
  FrameTimes,
  ffmpegArgs,
  MAX_PENDING_FRAMES,
  RawFrameSplitter,
  yuv420pBytes,
} from './frame-decoder.ts'

const clips = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../scripts/camera-sim/clips',
)
const FPS = 15
const T0 = Date.UTC(2026, 10, 28, 12)
const logger = pino({ level: 'silent' })

/** Frames `from`..`from + count - 1` of a clip (looping) as the depacketizer hands them on, 15 fps. */
function accessUnits(clip: Clip, from: number, count: number, t0 = T0): AccessUnit[] {
  const out: AccessUnit[] = []
  for (let i = from; i < from + count; i++) {
    const f = clip.frames[i % clip.frames.length] as Clip['frames'][number]
    out.push({
      codec: clip.codec,
      timestamp: i * (90_000 / FPS),
      wallMs: t0 + (i * 1000) / FPS,
      nalus: f.nalus,
      keyframe: f.keyframe,
      damaged: false,
    })
  }
  return out
}

function streamInfo(clip: Clip): StreamInfo {
  return {
    codec: clip.codec,
    parameterSets: clip.parameterSets,
    clockRate: 90_000,
    trackUrl: 'rtsp://camera/track1',
    transport: 'tcp',
    sdp: { media: [] } as unknown as StreamInfo['sdp'],
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Waits until `test()` holds; fails after a generous deadline (never a timing assertion). */
async function waitFor(test: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Like `waitFor`, but a pace rather than a condition: gives up quietly. */
async function settle(test: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!test() && Date.now() < deadline) await sleep(2)
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex')

describe('analyticsFrameSize', () => {
  const max = { width: 1280, height: 720 }
  it('keeps streams that fit', () => {
    expect(analyticsFrameSize({ width: 640, height: 360 }, max)).toEqual({ width: 640, height: 360 })
    expect(analyticsFrameSize({ width: 1280, height: 720 }, max)).toEqual({ width: 1280, height: 720 })
  })
  it('scales larger ones down to fit, keeping the aspect ratio, even each way', () => {
    expect(analyticsFrameSize({ width: 1920, height: 1080 }, max)).toEqual({ width: 1280, height: 720 })
    expect(analyticsFrameSize({ width: 3840, height: 2160 }, max)).toEqual({ width: 1280, height: 720 })
    // 4:3 and 2688x1520 (a 4 MP camera) are bound by the height; portrait too.
    expect(analyticsFrameSize({ width: 2592, height: 1944 }, max)).toEqual({ width: 960, height: 720 })
    expect(analyticsFrameSize({ width: 2688, height: 1520 }, max)).toEqual({ width: 1272, height: 720 })
    expect(analyticsFrameSize({ width: 1080, height: 1920 }, max)).toEqual({ width: 404, height: 720 })
    // Ultra-wide: bound by the width.
    expect(analyticsFrameSize({ width: 3840, height: 1080 }, max)).toEqual({ width: 1280, height: 360 })
  })
  it('makes odd sizes even, never larger than the source', () => {
    expect(analyticsFrameSize({ width: 641, height: 361 }, max)).toEqual({ width: 640, height: 360 })
    expect(analyticsFrameSize({ width: 1920, height: 1080 }, { width: 1281, height: 721 })).toEqual({
      width: 1280,
      height: 720,
    })
  })
  it('refuses sizes that cannot be', () => {
    expect(() => analyticsFrameSize({ width: 0, height: 360 }, max)).toThrow(RangeError)
    expect(() =>
      analyticsFrameSize({ width: 640, height: 360 }, { width: 1280, height: Number.NaN }),
    ).toThrow(RangeError)
  })
})

describe('RawFrameSplitter', () => {
  it('cuts a byte stream in chunks of any size into whole frames, each its own copy', () => {
    const frameBytes = yuv420pBytes({ width: 4, height: 2 }) // 12
    expect(frameBytes).toBe(12)
    const stream = Buffer.from(Array.from({ length: 12 * 5 }, (_, i) => i))
    const splitter = new RawFrameSplitter(frameBytes)
    const frames: Buffer[] = []
    for (const size of [1, 5, 11, 12, 13, 0, 18]) {
      const chunk = Buffer.from(stream.subarray(0, size))
      stream.copy(stream, 0, size) // shift (the tail is garbage, never read)
      frames.push(...splitter.push(chunk))
      chunk.fill(0xff) // the chunk's buffer is reused by the stream: frames must not change
    }
    expect(frames).toHaveLength(5)
    for (const [i, f] of frames.entries()) {
      expect(f).toHaveLength(12)
      expect([...f]).toEqual(Array.from({ length: 12 }, (_, j) => i * 12 + j))
    }
    expect(splitter.buffered).toBe(0)
    expect(splitter.push(Buffer.alloc(7))).toEqual([])
    expect(splitter.buffered).toBe(7)
  })
})

describe('FrameTimes', () => {
  const interval = 1000 / 15

  /** Feeds access units with times 0, 1, 2… and drains what ffmpeg would produce, on a fake clock. */
  function run(times: FrameTimes, script: ('feed' | 'out')[], clock: { now: number }) {
    const out: (number | undefined)[] = []
    let next = 0
    for (const step of script) {
      clock.now += step === 'feed' ? interval : 1
      if (step === 'feed') times.fed(next++)
      else out.push(times.decoded(clock.now))
    }
    return out
  }

  it('pairs frames first in, first out with the one frame ffmpeg holds back', () => {
    expect(DECODER_HOLD_BACK).toBe(1)
    const times = new FrameTimes()
    const clock = { now: 0 }
    const script: ('feed' | 'out')[] = ['feed']
    for (let i = 0; i < 30; i++) script.push('feed', 'out')
    expect(run(times, script, clock)).toEqual(Array.from({ length: 30 }, (_, i) => i))
    expect(times.pending).toBe(1)
    expect([times.unpaired, times.discarded, times.resyncs]).toEqual([0, 0, 0])
  })

  it('tolerates ffmpeg running behind for a while (no resync)', () => {
    const times = new FrameTimes({ settleMs: 1000, settleFrames: 10 })
    const clock = { now: 0 }
    // 40 access units at once (a stalled event loop), then ffmpeg catches up and runs in step.
    const script: ('feed' | 'out')[] = Array.from({ length: 40 }, () => 'feed' as const)
    for (let i = 0; i < 39; i++) script.push('out')
    for (let i = 0; i < 60; i++) script.push('feed', 'out')
    expect(run(times, script, clock)).toEqual(Array.from({ length: 99 }, (_, i) => i))
    expect(times.resyncs).toBe(0)
  })

  it('drops the times of frames ffmpeg never produced once the surplus has lasted', () => {
    const times = new FrameTimes({ settleMs: 1000, settleFrames: 10 })
    const clock = { now: 0 }
    let next = 0
    const feed = () => {
      clock.now += interval
      times.fed(next++)
    }
    feed()
    const inStep: (number | undefined)[] = []
    for (let k = 1; k <= 11; k++) {
      feed()
      inStep.push(times.decoded(clock.now))
    }
    expect(inStep).toEqual(Array.from({ length: 11 }, (_, i) => i))
    // Access units 12 and 13 are written, but ffmpeg drops pictures 11 and 12 (broken slices).
    feed()
    feed()
    // Frames 13.. come out paired with the times of 11.. until the surplus has lasted a second.
    const late: { got: number | undefined; frame: number }[] = []
    for (let k = 14; k <= 60; k++) {
      feed()
      late.push({ got: times.decoded(clock.now), frame: k - 1 })
    }
    expect(times.resyncs).toBe(1)
    expect(times.discarded).toBe(2)
    const firstExact = late.findIndex((l) => l.got === l.frame)
    // A second of frames at 15 fps (the 16th frame is one second after the first).
    expect(firstExact).toBe(15)
    // Off by the two dropped frames before (never ahead), exact after.
    for (const [i, l] of late.entries()) expect(l.got).toBe(i < firstExact ? l.frame - 2 : l.frame)
  })

  it('drops a frame that came out before the access unit after it was written', () => {
    const times = new FrameTimes()
    times.fed(0)
    // ffmpeg cannot have finished frame 0 yet: this frame is not ours.
    expect(times.decoded(0)).toBeUndefined()
    expect(times.unpaired).toBe(1)
    times.fed(1)
    expect(times.decoded(1)).toBe(0)
    times.fed(2)
    expect(times.decoded(2)).toBe(1)
  })

  it('undoes a wrong resync (ffmpeg behind for longer than the settle time) once it catches up', () => {
    const times = new FrameTimes({ settleMs: 100, settleFrames: 2 })
    for (let i = 0; i < 5; i++) times.fed(i)
    // ffmpeg is behind (frames 1-3 still to come, 4 held back) for long: taken for lost frames.
    expect(times.decoded(0)).toBe(0)
    expect(times.decoded(200)).toBe(3) // wrong: frame 1 got the time of 3
    expect(times.resyncs).toBe(1)
    // Frames 2 and 3 come out while only one time is queued: they cannot be ours, and are dropped.
    expect(times.decoded(201)).toBeUndefined()
    expect(times.decoded(202)).toBeUndefined()
    expect(times.unpaired).toBe(2)
    // In step again: exact.
    times.fed(5)
    expect(times.decoded(203)).toBe(4)
    times.fed(6)
    expect(times.decoded(204)).toBe(5)
  })
})

describe('FrameRateLimiter', () => {
  it('keeps a frame when an interval (less a tolerance) has passed since the last kept one', () => {
    const limiter = new FrameRateLimiter(5)
    const kept = Array.from({ length: 150 }, (_, i) => T0 + (i * 1000) / 15).filter((t) => limiter.keep(t))
    expect(kept).toHaveLength(50)
    expect(kept[1]).toBe(T0 + 200)
  })

  it('absorbs camera clock jitter', () => {
    const limiter = new FrameRateLimiter(5)
    // 15 fps with ±8 ms of jitter: still every third frame.
    const jitter = [0, 8, -8, 5, -5, 8, -8, 3, -3]
    let kept = 0
    for (let i = 0; i < 150; i++) if (limiter.keep(T0 + (i * 1000) / 15 + (jitter[i % 9] as number))) kept++
    expect(kept).toBe(50)
  })

  it('starts over when the camera clock steps back', () => {
    const limiter = new FrameRateLimiter(5)
    expect(limiter.keep(T0)).toBe(true)
    expect(limiter.keep(T0 + 100)).toBe(false)
    expect(limiter.keep(T0 - 60_000)).toBe(true)
    expect(limiter.keep(T0 - 60_000 + 200)).toBe(true)
  })
})

describe('what goes to ffmpeg', () => {
  const h264 = loadClip(path.join(clips, 'sim-h264.h264'), 'h264', FPS)
  const h265 = loadClip(path.join(clips, 'sim-h265.h265'), 'h265', FPS)

  it('accepts the clips access units, and refuses those that would not decode to one picture', () => {
    for (const au of [...accessUnits(h264, 0, 30), ...accessUnits(h265, 0, 30)])
      expect(accessUnitProblem(au)).toBeUndefined()
    const [key, p] = accessUnits(h264, 0, 2) as [AccessUnit, AccessUnit]
    const slice = p.nalus.at(-1) as Buffer
    const forbidden = Buffer.from(slice)
    forbidden[0] = (forbidden[0] as number) | 0x80
    expect(accessUnitProblem({ ...p, nalus: [forbidden] })?.kind).toBe('malformed')
    // A slice that does not start the picture: its first part went missing.
    const second = Buffer.from(slice)
    second[1] = (second[1] as number) & 0x7f
    expect(accessUnitProblem({ ...p, nalus: [second] })).toEqual({
      kind: 'malformed',
      reason: "the picture's first slice is missing",
    })
    // Parameter sets alone, or SEI: nothing to decode.
    expect(accessUnitProblem({ ...key, nalus: h264.parameterSets })?.kind).toBe('no-picture')
    expect(accessUnitProblem({ ...p, nalus: [Buffer.alloc(0)] })?.kind).toBe('malformed')
    const [, p265] = accessUnits(h265, 0, 2) as [AccessUnit, AccessUnit]
    const tid0 = Buffer.from(p265.nalus.at(-1) as Buffer)
    tid0[1] = (tid0[1] as number) & 0xf8
    expect(accessUnitProblem({ ...p265, nalus: [tid0] })?.kind).toBe('malformed')
  })

  it('leads each access unit with a delimiter of its own and keyframes with the parameter sets they lack', () => {
    const [key, p] = accessUnits(h264, 0, 2) as [AccessUnit, AccessUnit]
    const slices = key.nalus.filter((n) => h264NalType(n) === 5)
    const sei = Buffer.from([0x06, 0x05, 0x01, 0x00, 0x80])
    const camerasAud = Buffer.from([0x09, 0x10])
    const vendor = Buffer.from([0x18, 0x01, 0x02]) // type 24: unspecified
    const bare = { ...key, nalus: [camerasAud, sei, ...slices, vendor] }
    const types = splitAnnexB(decoderInput(bare, h264.parameterSets)).map(h264NalType)
    expect(types).toEqual([9, 7, 8, 6, ...slices.map(() => 5)])
    expect(splitAnnexB(decoderInput(bare, h264.parameterSets))[0]).toEqual(Buffer.from([0x09, 0xf0]))
    // A keyframe with its own SPS keeps it and gets only the PPS, in order.
    const ownSps = Buffer.from(h264.parameterSets[0] as Buffer)
    const withSps = { ...key, nalus: [ownSps, ...slices] }
    const out = splitAnnexB(
      decoderInput(withSps, [Buffer.from([0x67, 0x00]), h264.parameterSets[1] as Buffer]),
    )
    expect(out.map(h264NalType)).toEqual([9, 7, 8, ...slices.map(() => 5)])
    expect(out[1]).toEqual(ownSps)
    // Other frames: only the delimiter.
    expect(splitAnnexB(decoderInput(p, h264.parameterSets)).map(h264NalType)).toEqual([9, 1])
    const [key265] = accessUnits(h265, 0, 1) as [AccessUnit]
    const irap = key265.nalus.filter((n) => h265NalType(n) >= 16 && h265NalType(n) <= 21)
    const types265 = splitAnnexB(decoderInput({ ...key265, nalus: irap }, h265.parameterSets)).map(
      h265NalType,
    )
    expect(types265).toEqual([35, 32, 33, 34, ...irap.map(h265NalType)])
  })

  it('gives ffmpeg fixed arguments: stdin in, raw frames of a fixed size out, never a URL', () => {
    const args = ffmpegArgs('h265', { width: 1280, height: 720 })
    expect(args.slice(args.indexOf('-f'), args.indexOf('-f') + 4)).toEqual(['-f', 'hevc', '-i', 'pipe:0'])
    expect(args).toContain('scale=1280:720:flags=bilinear,format=yuv420p')
    expect(args.slice(-5)).toEqual(['-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1'])
    expect(args.join(' ')).not.toMatch(/rtsp:|:\/\/|nobuffer/)
    expect(args.join(' ')).toContain('-fps_mode passthrough')
  })

  it('refuses options out of range', () => {
    const o: FrameDecoderOptions = { ffmpeg: 'ffmpeg', logger, fps: 5, onFrame: () => {} }
    expect(() => new FrameDecoder({ ...o, fps: 0 })).toThrow(RangeError)
    expect(() => new FrameDecoder({ ...o, fps: 16 })).toThrow(RangeError)
    expect(() => new FrameDecoder({ ...o, maxWidth: 1 })).toThrow(RangeError)
    expect(() => new FrameDecoder({ ...o, ffmpeg: '' })).toThrow(/ffmpeg/)
  })
})

const ffmpeg = findFfmpeg()
if (!ffmpeg)
  console.warn(
    'SKIPPING analytics frame decoder tests with ffmpeg: ffmpeg is not installed (apt install ffmpeg)',
  )

describe.skipIf(!ffmpeg)('FrameDecoder with ffmpeg', () => {
  const ffmpegPath = ffmpeg as string
  const main = loadClip(path.join(clips, 'sim-h264.h264'), 'h264', FPS)
  const sub = loadClip(path.join(clips, 'sim-h264-sub.h264'), 'h264', FPS)
  const hevc = loadClip(path.join(clips, 'sim-h265.h265'), 'h265', FPS)
  const decoders: FrameDecoder[] = []
  const dirs: string[] = []
  afterEach(async () => {
    for (const d of decoders.splice(0)) await d.close()
  })
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  /** The clip decoded by ffmpeg on its own: the picture each frame time must carry. */
  const reference = (() => {
    let hashes: string[] | undefined
    return () => {
      hashes ??= (() => {
        const file = path.join(clips, 'sim-h264.h264')
        const raw = execFileSync(
          ffmpegPath,
          ['-v', 'error', '-f', 'h264', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'],
          { maxBuffer: 256 * 1024 * 1024 },
        )
        const bytes = yuv420pBytes({ width: 640, height: 360 })
        return Array.from({ length: raw.length / bytes }, (_, i) =>
          sha1(raw.subarray(i * bytes, (i + 1) * bytes)),
        )
      })()
      return hashes
    }
  })()
  /** Index in the clip of the access unit fed with `time` (see `accessUnits`). */
  const clipIndex = (time: number, t0 = T0) => Math.round(((time - t0) * FPS) / 1000) % main.frames.length

  function decoder(options: Partial<FrameDecoderOptions> = {}) {
    const frames: Frame[] = []
    const errors: string[] = []
    const d = new FrameDecoder({
      ffmpeg: ffmpegPath,
      logger,
      fps: 15,
      onFrame: (f) => frames.push(f),
      onError: (r) => errors.push(r),
      ...options,
    })
    decoders.push(d)
    return { d, frames, errors }
  }

  /**
   * Feeds access units as a camera would, only faster: each one once ffmpeg has produced the frame
   * before it (in step, it holds one back) or after `maxWaitMs` (it dropped one, or restarts).
   */
  async function feed(d: FrameDecoder, aus: AccessUnit[], { minGapMs = 0, maxWaitMs = 200 } = {}) {
    for (const au of aus) {
      const { framesFed, framesDecoded } = d.stats
      d.frame(au)
      if (d.stats.framesFed > framesFed) await settle(() => d.stats.framesDecoded > framesDecoded, maxWaitMs)
      if (minGapMs > 0) await sleep(minGapMs)
    }
  }

  it('decodes H.264 to 640x360 yuv420p frames timed with the wallMs of their access units', async () => {
    const { d, frames, errors } = decoder()
    d.start(streamInfo(main))
    const aus = accessUnits(main, 0, 150)
    await feed(d, aus)
    // ffmpeg holds the last one back until the next access unit.
    await waitFor(() => frames.length === 149, '149 frames')
    expect(errors).toEqual([])
    for (const f of frames) {
      expect([f.width, f.height]).toEqual([640, 360])
      expect(f.data).toHaveLength(640 * 360 * 1.5)
    }
    expect(frames.map((f) => f.time)).toEqual(aus.slice(0, 149).map((au) => au.wallMs))
    // Each time is on its own picture: the frames are the clip's, in order.
    const hashes = reference()
    expect(frames.map((f) => sha1(f.data))).toEqual(hashes.slice(0, 149))
    expect(d.stats).toMatchObject({
      framesIn: 150,
      framesFed: 150,
      framesSkipped: 0,
      framesDecoded: 149,
      framesUnpaired: 0,
      framesKept: 149,
      resyncs: 0,
      restarts: 0,
      output: { width: 640, height: 360 },
    })
  })

  it('hands on about fps frames a second (5 of 15: a third), having decoded all', async () => {
    const { d, frames } = decoder({ fps: 5 })
    d.start(streamInfo(main))
    await feed(d, accessUnits(main, 0, 151))
    await waitFor(() => d.stats.framesDecoded === 150, '150 frames decoded')
    expect(frames.length).toBeGreaterThanOrEqual(48)
    expect(frames.length).toBeLessThanOrEqual(52)
    expect(d.stats.framesKept).toBe(frames.length)
    for (let i = 1; i < frames.length; i++)
      expect((frames[i] as Frame).time - (frames[i - 1] as Frame).time).toBeGreaterThanOrEqual(180)
  })

  it('scales a 1920x1080 stream to fit 1280x720', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-decode-'))
    dirs.push(dir)
    const file = path.join(dir, 'fullhd.h264')
    execFileSync(ffmpegPath, [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=15', '-t', '2'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0', '-g', '15', '-pix_fmt', 'yuv420p'],
      ...['-x264-params', 'aud=1', '-f', 'h264', file],
    ])
    const clip = loadClip(file, 'h264', FPS)
    const { d, frames } = decoder()
    // No parameter sets in the SDP: the size comes from the keyframe's own SPS.
    d.start({ ...streamInfo(clip), parameterSets: [] })
    await feed(d, accessUnits(clip, 0, 30))
    // Every access unit decoded (ffmpeg holds the last one back) or skipped: a loaded machine makes
    // the decoder skip to the next keyframe while ffmpeg is behind, which is its job, not a failure.
    await waitFor(
      () =>
        d.stats.framesFed + d.stats.framesSkipped === 30 &&
        d.stats.framesDecoded >= d.stats.framesFed - 1 &&
        frames.length > 0,
      'every access unit decoded or skipped',
      60_000,
    )
    if (d.stats.framesSkipped === 0) expect(frames).toHaveLength(29)
    for (const f of frames) {
      expect([f.width, f.height]).toEqual([1280, 720])
      expect(f.data).toHaveLength(1280 * 720 * 1.5)
    }
  })

  it('decodes H.265', async () => {
    const { d, frames, errors } = decoder()
    d.start(streamInfo(hevc))
    const aus = accessUnits(hevc, 0, 45)
    await feed(d, aus)
    await waitFor(() => frames.length === 44, '44 frames')
    expect(errors).toEqual([])
    expect(frames.every((f) => f.width === 640 && f.height === 360 && f.data.length === 345_600)).toBe(true)
    expect(frames.map((f) => f.time)).toEqual(aus.slice(0, 44).map((au) => au.wallMs))
  })

  it('restarts ffmpeg when the stream restarts with another size', async () => {
    const { d, frames } = decoder()
    d.start(streamInfo(main))
    await feed(d, accessUnits(main, 0, 20))
    await waitFor(() => frames.length === 19, '19 frames')
    const first = d.pid as number
    expect(alive(first)).toBe(true)
    d.stop('camera gone')
    d.start(streamInfo(sub))
    const t1 = T0 + 60_000
    const aus = accessUnits(sub, 0, 20, t1)
    await feed(d, aus)
    await waitFor(() => frames.length === 19 + 19, '19 more frames')
    expect(
      frames.slice(19).every((f) => f.width === 320 && f.height === 180 && f.data.length === 86_400),
    ).toBe(true)
    expect(frames.slice(19).map((f) => f.time)).toEqual(aus.slice(0, 19).map((au) => au.wallMs))
    expect(d.stats.restarts).toBe(1)
    expect(d.pid).not.toBe(first)
    await waitFor(() => !alive(first), 'the first ffmpeg to be gone')
  })

  it('restarts ffmpeg when a keyframe brings a new size in band', async () => {
    const { d, frames } = decoder()
    d.start({ ...streamInfo(main), parameterSets: [] })
    await feed(d, accessUnits(main, 0, 15))
    // The camera switches to its sub-stream's resolution without a new session.
    await feed(d, accessUnits(sub, 0, 16, T0 + 1000))
    await waitFor(() => frames.some((f) => f.width === 320) && frames.length >= 14 + 15, 'the new size')
    expect(d.stats.restarts).toBe(1)
    const sizes = frames.map((f) => `${f.width}x${f.height}`)
    // The old ffmpeg's last frame (held back) goes with it.
    expect(sizes).toEqual([...Array(14).fill('640x360'), ...Array(15).fill('320x180')])
  })

  it('survives damaged and garbage input: reports it, recovers at the next keyframe, times stay true', async () => {
    const { d, frames, errors } = decoder()
    d.start(streamInfo(main))
    const aus = accessUnits(main, 0, 600)
    // Damaged frames (lost packets): skipped up to the next keyframe (index 30).
    for (const i of [20, 21]) aus[i] = { ...(aus[i] as AccessUnit), damaged: true }
    // A malformed one (the forbidden bit): skipped up to the next keyframe (45), reported.
    const bad = aus[40] as AccessUnit
    aus[40] = {
      ...bad,
      nalus: bad.nalus.map((n) => Buffer.from([0x80 | (n[0] as number), ...n.subarray(1)])),
    }
    // Garbage that looks like pictures (a slice header, then noise): ffmpeg drops these frames.
    let seed = 7
    const noise = () =>
      Buffer.from(
        Array.from({ length: 2000 }, () => {
          seed = (seed * 1103515245 + 12345) >>> 0
          return seed >>> 24
        }),
      )
    for (const i of [50, 51, 52])
      aus[i] = { ...(aus[i] as AccessUnit), nalus: [Buffer.concat([Buffer.from([0x41, 0x9a]), noise()])] }
    await feed(d, aus.slice(0, 60))
    await waitFor(() => errors.length >= 2, 'errors reported')
    expect(errors.some((e) => e.includes('malformed access unit'))).toBe(true)
    expect(errors.some((e) => e.startsWith('ffmpeg reported a decoding error'))).toBe(true)
    expect(d.stats.framesSkipped).toBe(10 + 5)
    // Keep the camera going, paced, until the pairing has resynchronised: frames carry their own
    // picture's time again (ffmpeg drops one picture or more, a few frames apart).
    const hashes = reference()
    const exact = (f: Frame) => sha1(f.data) === hashes[clipIndex(f.time)]
    const exactAtTheEnd = () => frames.length - 1 - frames.findLastIndex((f) => !exact(f))
    let i = 60
    while (i < aus.length && (d.stats.resyncs === 0 || exactAtTheEnd() < 20))
      await feed(d, aus.slice(i, ++i), { minGapMs: 15 })
    expect(d.stats.resyncs).toBeGreaterThanOrEqual(1)
    expect(d.stats.resyncs).toBeLessThanOrEqual(3)
    // The frames between the garbage and the resync were garbled, or timed early by the drops.
    const first = frames.findIndex((f) => f.time >= (aus[50] as AccessUnit).wallMs)
    expect(frames.slice(first).some((f) => !exact(f))).toBe(true)
    // Nothing crashed, ffmpeg never restarted, and every frame from now on is exact.
    const resyncedAt = frames.length
    await feed(d, aus.slice(i, i + 30))
    await waitFor(() => frames.length >= resyncedAt + 29, 'frames after the resync')
    expect(d.stats.restarts).toBe(0)
    expect(frames.slice(resyncedAt).every(exact)).toBe(true)
    // Before the damage, too; skipped frames never got a time.
    const before = frames.filter((f) => f.time < (aus[20] as AccessUnit).wallMs)
    expect(before.map((f) => sha1(f.data))).toEqual(hashes.slice(0, 20))
    const times = frames.map((f) => f.time)
    expect(times.every((t, k) => k === 0 || t > (times[k - 1] as number))).toBe(true)
    for (const skipped of [20, 25, 29, 40, 44])
      expect(times).not.toContain((aus[skipped] as AccessUnit).wallMs)
  })

  it('skips to the next keyframe while ffmpeg is behind, rather than queue without bound', async () => {
    const { d, frames } = decoder()
    d.start(streamInfo(main))
    const aus = accessUnits(main, 0, 180)
    await feed(d, aus.slice(0, 15))
    await waitFor(() => frames.length === 14, '14 frames')
    const pid = d.pid as number
    process.kill(pid, 'SIGSTOP') // ffmpeg reads nothing more
    try {
      for (const au of aus.slice(15, 135)) d.frame(au)
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    // One held back, then written up to the bound; the rest skipped.
    expect(d.stats.framesFed).toBe(15 + MAX_PENDING_FRAMES - 1)
    expect(d.stats.framesSkipped).toBe(135 - d.stats.framesFed)
    await waitFor(() => frames.length === d.stats.framesFed - 1, 'ffmpeg to catch up')
    // Resumed at the keyframe after (135); every frame carries its own picture's time.
    await feed(d, aus.slice(135, 180))
    await waitFor(() => frames.length === d.stats.framesFed - 1, 'the frames after')
    const hashes = reference()
    expect(frames.map((f) => sha1(f.data))).toEqual(frames.map((f) => hashes[clipIndex(f.time)]))
    expect(frames.at(-1)?.time).toBe((aus[178] as AccessUnit).wallMs)
    expect(d.stats.restarts).toBe(0)
  })

  it('restarts ffmpeg when it dies, with a clear reason', async () => {
    const { d, frames, errors } = decoder()
    d.start(streamInfo(main))
    await feed(d, accessUnits(main, 0, 20))
    await waitFor(() => frames.length === 19, '19 frames')
    const first = d.pid as number
    process.kill(first, 'SIGKILL')
    await waitFor(() => errors.length === 1, 'the crash to be reported')
    expect(errors[0]).toMatch(
      /^ffmpeg exited unexpectedly \(signal SIGKILL\); restarting in 1 s, at the next keyframe$/,
    )
    expect(d.stats.lastError).toBe(errors[0])
    // Frames go on arriving; after the delay the next keyframe starts a new ffmpeg.
    let i = 20
    while (d.stats.restarts === 0 && i < 300) await feed(d, accessUnits(main, i++, 1), { minGapMs: 10 })
    const resumed = frames.length
    await feed(d, accessUnits(main, i, 20))
    // The keyframe that started it and these 20: 20 out, one held back.
    await waitFor(() => frames.length === resumed + 20, 'frames from the new ffmpeg')
    expect(d.stats.restarts).toBe(1)
    expect(d.pid).not.toBe(first)
  })

  it('reports an ffmpeg that cannot start, without throwing', async () => {
    const { d, frames, errors } = decoder({ ffmpeg: '/nonexistent/ffmpeg' })
    d.start(streamInfo(main))
    await feed(d, accessUnits(main, 0, 5))
    await waitFor(() => errors.length === 1, 'the failure to be reported')
    expect(errors[0]).toMatch(
      /^ffmpeg could not start \(spawn \/nonexistent\/ffmpeg ENOENT\); restarting in 1 s/,
    )
    expect(frames).toEqual([])
    await d.close()
  })

  it('is a consumer of the camera stream: fed by its producer', async () => {
    const { d, frames } = decoder({ fps: 5 })
    const producer = new Producer()
    const subscription = producer.subscribe(d)
    producer.started(streamInfo(main))
    const aus = accessUnits(main, 0, 46)
    for (const au of aus) {
      const decoded = d.stats.framesDecoded
      producer.frame(au)
      await subscription.idle()
      await settle(() => d.stats.framesDecoded > decoded, 200)
    }
    await waitFor(() => d.stats.framesDecoded === 45, '45 frames decoded')
    expect(frames.map((f) => f.time)).toEqual(
      aus.filter((_, i) => i % 3 === 0 && i < 45).map((au) => au.wallMs),
    )
  })

  it('close() kills ffmpeg and waits for it', async () => {
    const { d, frames } = decoder()
    d.start(streamInfo(main))
    await feed(d, accessUnits(main, 0, 10))
    await waitFor(() => frames.length === 9, '9 frames')
    const pid = d.pid as number
    expect(alive(pid)).toBe(true)
    await d.close()
    expect(alive(pid)).toBe(false)
    expect(d.pid).toBeUndefined()
    // Frames after close are ignored.
    d.frame(accessUnits(main, 10, 1)[0] as AccessUnit)
    expect(d.stats.framesIn).toBe(10)
  })
})
