import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { cleanText } from '@ts-vms/shared'
import type { Logger } from 'pino'
import { type AccessUnit, toAnnexB } from '../../media/codec/access-unit.ts'
import type { PayloadFormat } from '../../media/codec/depacketizer.ts'
import { H264, h264NalType } from '../../media/codec/h264.ts'
import { H265, h265NalType } from '../../media/codec/h265.ts'
import { videoFormat } from '../../media/codec/sps.ts'
import type { Consumer } from '../../media/core/producer.ts'
import type { StreamInfo } from '../../media/rtsp/client.ts'
import type { Frame } from '../types.ts'

/**
 * The decode stage of edge analytics (Frigate's decode → motion → detect → track → events): one
 * ffmpeg per camera analytics stream, fed the access units of the camera's existing stream (it is
 * a consumer of the camera's producer — never a second connection, never a URL or credentials on
 * a command line), writing small raw `yuv420p` pictures on stdout.
 *
 * - Size: known before ffmpeg starts, from the stream's SPS (the StreamInfo's or the keyframe's
 *   own: ffmpeg cannot decode without one either). The output size is then fixed in ffmpeg's
 *   arguments (`scale=W:H`), so stdout splits into frames of exactly W*H*3/2 bytes whatever the
 *   input does — nothing depends on parsing ffmpeg's text output. A keyframe with a new size
 *   restarts ffmpeg with the new aspect ratio.
 * - Times: raw video carries none. ffmpeg outputs one frame per access unit, in order (cameras
 *   send no B-frames), so decoded frames pair first-in-first-out with the `wallMs` of the access
 *   units written; `FrameTimes` guards that pairing against ffmpeg producing fewer or more frames.
 * - Rate: ffmpeg decodes every frame (each P-frame needs the one before it); the reduction to
 *   `fps` happens here, by frame time, so the costly stages after decode only see `fps` frames a
 *   second.
 */

export interface Size {
  width: number
  height: number
}

/** The largest size within `max` with the source's aspect ratio (never upscaled), even each way. */
export function analyticsFrameSize(source: Size, max: Size): Size {
  for (const [what, v] of [
    ['source width', source.width],
    ['source height', source.height],
    ['maximum width', max.width],
    ['maximum height', max.height],
  ] as const) {
    if (!Number.isFinite(v) || v < 2) throw new RangeError(`${what} must be at least 2 (got ${v})`)
  }
  const scale = Math.min(1, max.width / source.width, max.height / source.height)
  return { width: evenAtMost(source.width * scale), height: evenAtMost(source.height * scale) }
}

/** Rounded, then down to even (yuv420p halves the chroma planes each way). */
const evenAtMost = (x: number) => Math.max(2, 2 * Math.floor(Math.round(x) / 2))

/** Bytes of one planar 4:2:0 picture: the luma plane and two quarter-size chroma planes. */
export const yuv420pBytes = (size: Size) => (size.width * size.height * 3) / 2

/** Cuts a raw video byte stream (ffmpeg's stdout, in chunks of any size) into whole frames. */
export class RawFrameSplitter {
  private current: Buffer | undefined
  private filled = 0

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`bad frame size ${frameBytes}`)
  }

  /** Adds bytes; returns the frames they complete, each its own buffer (the chunk may be reused). */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = []
    let offset = 0
    while (offset < chunk.length) {
      const frame = this.current ?? Buffer.allocUnsafe(this.frameBytes)
      this.current = frame
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset)
      chunk.copy(frame, this.filled, offset, offset + n)
      this.filled += n
      offset += n
      if (this.filled === this.frameBytes) {
        frames.push(frame)
        this.current = undefined
        this.filled = 0
      }
    }
    return frames
  }

  /** Bytes of the frame being assembled. */
  get buffered(): number {
    return this.filled
  }
}

/**
 * How many frames ffmpeg holds back with `ffmpegArgs`: its parser ends a frame when the next one
 * begins, so frame k comes out only once access unit k+1 has been written. Measured, and only
 * true with one encoder thread (the rawvideo encoder's frame threads would hold back one frame
 * per thread) and without `-fflags nobuffer` (which discards what was read while probing).
 */
export const DECODER_HOLD_BACK = 1

export interface FrameTimesOptions {
  /** How long (ms) every decoded frame must find surplus times queued before they are dropped. */
  settleMs?: number
  /** ...and over how many decoded frames at least (a slow camera's second holds few). */
  settleFrames?: number
}

/**
 * Pairs decoded frames with the times of the access units written to ffmpeg, first in first out,
 * and keeps the pairing true when ffmpeg's count differs from ours:
 *
 * - Fewer frames: ffmpeg drops a picture it cannot decode (a broken slice: "no frame!"). Its time
 *   stays queued and every later frame would get its predecessor's time. In step, a frame comes
 *   out while exactly its own and the next time are queued (`DECODER_HOLD_BACK`); more than that
 *   is either ffmpeg running behind (transient: it catches up within a frame or two) or times of
 *   frames that will never come (permanent). So a surplus that every decoded frame found for
 *   `settleMs` and `settleFrames` is times of dropped frames: discarded from the head, and the
 *   pairing is exact again. Each level of surplus counts from when it appeared, so drops a few
 *   frames apart (a broken picture, then a frame that referenced it) are each discarded a settle
 *   time after their own. Frames in between were off by a frame interval per dropped frame — and
 *   garbled anyway, coming after a broken picture.
 * - More frames: a frame that comes out before the access unit after it was written cannot be
 *   one of ours (the parser could not have finished it): it gets no time and is dropped. This
 *   also undoes a wrong discard by the rule above (ffmpeg behind for longer than `settleMs`):
 *   the frames then come out timed late until ffmpeg catches up, when those beyond the times
 *   queued are dropped, and the pairing is exact again.
 *
 * Pure: the caller passes its monotonic clock.
 */
export class FrameTimes {
  private readonly times: number[] = []
  private readonly settleMs: number
  private readonly settleFrames: number
  /** Level j: since when, and over how many frames, every decoded frame found more than j surplus. */
  private readonly surplus: { since: number; frames: number }[] = []
  /** Frames that came out with no time of their own (dropped). */
  unpaired = 0
  /** Times of frames ffmpeg never produced, discarded. */
  discarded = 0
  /** Times the surplus was discarded. */
  resyncs = 0

  constructor(options: FrameTimesOptions = {}) {
    this.settleMs = options.settleMs ?? 1000
    this.settleFrames = options.settleFrames ?? 10
  }

  /** An access unit was written to ffmpeg: its frame will come out after the next one's. */
  fed(time: number): void {
    this.times.push(time)
  }

  /** Times queued: frames written and not yet decoded (including the one held back). */
  get pending(): number {
    return this.times.length
  }

  /** The time of the frame ffmpeg just produced, or undefined when it has none (drop the frame). */
  decoded(now: number): number | undefined {
    const inStep = 1 + DECODER_HOLD_BACK
    if (this.times.length < inStep) {
      this.unpaired++
      return undefined
    }
    const surplus = this.times.length - inStep
    // Levels the surplus fell below are over (ffmpeg caught up that far); new ones start now.
    this.surplus.length = Math.min(this.surplus.length, surplus)
    while (this.surplus.length < surplus) this.surplus.push({ since: now, frames: 0 })
    let settled = 0
    for (const level of this.surplus) {
      level.frames++
      // Higher levels began later: the ones that have lasted are the lowest.
      if (now - level.since >= this.settleMs && level.frames >= this.settleFrames) settled++
    }
    if (settled > 0) {
      this.times.splice(0, settled)
      this.surplus.splice(0, settled)
      this.discarded += settled
      this.resyncs++
    }
    return this.times.shift()
  }
}

/** Share of the frame interval a frame may come early and still be kept (camera clock jitter). */
export const FRAME_INTERVAL_TOLERANCE = 0.1

/**
 * Frame-rate reduction by frame time: a frame is kept when at least one interval (less a small
 * tolerance) has passed since the last kept one. Pure.
 */
export class FrameRateLimiter {
  readonly intervalMs: number
  private readonly minGapMs: number
  private last: number | undefined

  constructor(fps: number, tolerance = FRAME_INTERVAL_TOLERANCE) {
    if (!(fps > 0)) throw new RangeError(`fps must be positive (got ${fps})`)
    this.intervalMs = 1000 / fps
    this.minGapMs = this.intervalMs * (1 - tolerance)
  }

  keep(time: number): boolean {
    const last = this.last
    // A camera clock stepped back by more than an interval: count from here rather than go blind
    // until it is back where it was.
    if (last === undefined || time - last >= this.minGapMs || time < last - this.intervalMs) {
      this.last = time
      return true
    }
    return false
  }
}

const formatOf = (codec: AccessUnit['codec']): PayloadFormat => (codec === 'h264' ? H264 : H265)

/**
 * NAL unit types no decoder acts on (H.264 24-31, H.265 48-63: unspecified, or RTP's own which the
 * depacketizer has already unpacked): a camera's private data, left out of what ffmpeg gets.
 */
const isUnspecified = (codec: AccessUnit['codec'], nal: Buffer) =>
  codec === 'h264' ? h264NalType(nal) >= 24 : h265NalType(nal) >= 48

const isPicture = (codec: AccessUnit['codec'], nal: Buffer) =>
  codec === 'h264' ? h264NalType(nal) >= 1 && h264NalType(nal) <= 5 : h265NalType(nal) <= 31

/**
 * Whether a picture's first slice leads the access unit's slices: H.264 first_mb_in_slice == 0 (a
 * single `1` bit in ue(v)), H.265 first_slice_segment_in_pic_flag. Without it ffmpeg's parser
 * would merge the access unit into its neighbour, and one frame would come out for two.
 */
const startsPicture = (codec: AccessUnit['codec'], nal: Buffer) =>
  codec === 'h264' ? ((nal[1] ?? 0) & 0x80) !== 0 : ((nal[2] ?? 0) & 0x80) !== 0

export interface AccessUnitProblem {
  /** `no-picture`: nothing to decode (skip it); `malformed`: broken (skip up to the next keyframe). */
  kind: 'no-picture' | 'malformed'
  reason: string
}

/**
 * What keeps an access unit from decoding into exactly one picture, if anything: checked before
 * it goes to ffmpeg, since each one must give one frame for the times to pair.
 */
export function accessUnitProblem(au: AccessUnit): AccessUnitProblem | undefined {
  const headerBytes = au.codec === 'h264' ? 1 : 2
  let first: Buffer | undefined
  for (const nal of au.nalus) {
    if (nal.length < headerBytes) return { kind: 'malformed', reason: 'a NAL unit shorter than its header' }
    if (((nal[0] as number) & 0x80) !== 0)
      return { kind: 'malformed', reason: 'a NAL unit with the forbidden bit set' }
    if (au.codec === 'h265' && ((nal[1] as number) & 0x07) === 0)
      return { kind: 'malformed', reason: 'a NAL unit with temporal id 0' }
    if (!first && isPicture(au.codec, nal)) first = nal
  }
  if (!first) return { kind: 'no-picture', reason: 'no slice in the access unit' }
  if (!startsPicture(au.codec, first))
    return { kind: 'malformed', reason: "the picture's first slice is missing" }
  return undefined
}

/** Access unit delimiters, primary picture type "any": H.264 type 9; H.265 type 35, temporal id 0. */
const AUD: Record<AccessUnit['codec'], Buffer> = {
  h264: Buffer.from([0x09, 0xf0]),
  h265: Buffer.from([0x46, 0x01, 0x50]),
}

/**
 * One access unit as ffmpeg gets it (Annex B): led by a delimiter of ours, so ffmpeg's parser cuts
 * frames exactly where the access units are cut (the camera's own delimiters are replaced); a
 * keyframe also carries the stream's parameter sets it lacks (cameras that send them only in the
 * SDP, or only with the first keyframe: a restarted ffmpeg needs them again).
 */
export function decoderInput(au: AccessUnit, parameterSets: readonly Buffer[]): Buffer {
  const format = formatOf(au.codec)
  const nalus = au.nalus.filter((n) => !format.isDelimiter(n) && !isUnspecified(au.codec, n))
  if (!au.keyframe) return toAnnexB([AUD[au.codec], ...nalus])
  const own = nalus.filter((n) => format.isParameterSet(n))
  const carried = new Set(own.map((n) => format.parameterSetRank(n)))
  const lead = [
    ...own,
    ...parameterSets.filter((n) => format.isParameterSet(n) && !carried.has(format.parameterSetRank(n))),
  ].sort((a, b) => format.parameterSetRank(a) - format.parameterSetRank(b))
  return toAnnexB([AUD[au.codec], ...lead, ...nalus.filter((n) => !format.isParameterSet(n))])
}

/**
 * ffmpeg's fixed arguments: Annex B on stdin, `size` raw yuv420p on stdout, one frame out per
 * access unit in (`-fps_mode passthrough`: nothing dropped or duplicated to make a frame rate).
 */
export function ffmpegArgs(codec: AccessUnit['codec'], size: Size): string[] {
  return [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    // Low delay: decode from the first parameter sets on, without probing further. Not `-fflags
    // nobuffer`: it throws away the packets read while probing (a whole GOP of H.264, measured),
    // frames that would be missing from the start of the pairing.
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    // Also turns off the decoder's frame threads, which would hold frames back.
    '-flags',
    'low_delay',
    '-f',
    codec === 'h264' ? 'h264' : 'hevc',
    '-i',
    'pipe:0',
    '-an',
    '-sn',
    '-dn',
    // A fixed output size: stdout's framing never depends on the input's (which may change).
    '-vf',
    `scale=${size.width}:${size.height}:flags=bilinear,format=yuv420p`,
    '-fps_mode',
    'passthrough',
    // One encoder thread: the rawvideo encoder's frame threads hold back a frame each.
    '-threads',
    '1',
    '-flush_packets',
    '1',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'rawvideo',
    'pipe:1',
  ]
}

export interface FrameDecoderOptions {
  ffmpeg: string
  logger: Logger
  /** Frames a second handed on (1..15): the others are decoded (P-frames need them) and dropped. */
  fps: number
  /** Largest output picture (default 1280x720); smaller streams keep their size. */
  maxWidth?: number
  maxHeight?: number
  onFrame: (frame: Frame) => void
  /** A problem worth telling someone: ffmpeg failing or crashing, a broken stream (rate-limited). */
  onError?: (reason: string) => void
}

export interface FrameDecoderStats {
  /** Access units received from the camera stream. */
  framesIn: number
  /** Access units written to ffmpeg. */
  framesFed: number
  /**
   * Access units not written: before the first keyframe, damaged or malformed ones and those after
   * them up to the next keyframe, and while ffmpeg fell behind or waits to restart.
   */
  framesSkipped: number
  /** Frames read from ffmpeg. */
  framesDecoded: number
  /** Decoded frames without an access unit of their own, dropped (see `FrameTimes`). */
  framesUnpaired: number
  /** Frames handed to `onFrame`. */
  framesKept: number
  /** Times the pairing dropped times of frames ffmpeg never produced (see `FrameTimes`). */
  resyncs: number
  /** ffmpeg processes started after the first (a new stream size, a crash, a reconnect). */
  restarts: number
  lastError: string | undefined
  /** The size of the frames handed on, once ffmpeg runs. */
  output: Size | undefined
}

/** Frames written and not yet decoded beyond which ffmpeg is behind: skip to the next keyframe. */
export const MAX_PENDING_FRAMES = 90
/** Bytes waiting in ffmpeg's stdin pipe beyond which it is behind (as the live transcoder). */
const MAX_STDIN_BYTES = 8 * 1024 * 1024
/** No frame for this long while behind: ffmpeg is stuck, not slow — restart it. */
const STALL_MS = 10_000
/** Restart delays after ffmpeg failed: doubling from the first to the most. */
const FIRST_RETRY_MS = 1000
const MAX_RETRY_MS = 30_000
/** A process that ran this long failed on its own, not in a loop: retry at the first delay again. */
const STABLE_RUN_MS = 60_000
/** The same kind of problem goes to `onError` at most once in this time (the log gets all). */
const REPORT_INTERVAL_MS = 10_000

interface DecoderProcess {
  proc: ChildProcessWithoutNullStreams
  codec: AccessUnit['codec']
  source: Size
  output: Size
  splitter: RawFrameSplitter
  times: FrameTimes
  startedAt: number
  lastOutputAt: number
  /** The end of stderr, for the reason of an exit. */
  stderrTail: string
  /** A line of stderr not yet ended. */
  stderrLine: string
  spawnError: string | undefined
}

export class FrameDecoder implements Consumer {
  readonly name = 'analytics-decode'
  private readonly maxSize: Size
  private readonly limiter: FrameRateLimiter
  private codec: AccessUnit['codec'] | undefined
  /** The stream's latest parameter sets by rank (VPS/SPS/PPS), from the StreamInfo and in band. */
  private readonly parameterSets = new Map<number, Buffer>()
  private current: DecoderProcess | undefined
  /** Processes killed or exiting, until they are gone (what `close()` waits for). */
  private readonly exits = new Set<Promise<void>>()
  private waitKeyframe = true
  private closed = false
  private spawned = 0
  private retryAt = 0
  private retryDelayMs = 0
  private readonly reportedAt = new Map<string, number>()
  private lastError: string | undefined
  private readonly counts = {
    framesIn: 0,
    framesFed: 0,
    framesSkipped: 0,
    framesDecoded: 0,
    framesUnpaired: 0,
    framesKept: 0,
    resyncs: 0,
  }

  constructor(private readonly o: FrameDecoderOptions) {
    if (!o.ffmpeg) throw new Error('FrameDecoder needs the path of ffmpeg (see findFfmpeg)')
    if (!(o.fps >= 1 && o.fps <= 15)) throw new RangeError(`analytics fps must be 1..15 (got ${o.fps})`)
    this.maxSize = { width: o.maxWidth ?? 1280, height: o.maxHeight ?? 720 }
    analyticsFrameSize(this.maxSize, this.maxSize) // validates the maximum
    this.limiter = new FrameRateLimiter(o.fps)
  }

  get stats(): FrameDecoderStats {
    return {
      ...this.counts,
      restarts: Math.max(0, this.spawned - 1),
      lastError: this.lastError,
      output: this.current ? { ...this.current.output } : undefined,
    }
  }

  /** The running ffmpeg's process id (for health and tests). */
  get pid(): number | undefined {
    return this.current?.proc.pid
  }

  start(info: StreamInfo): void {
    if (this.closed) return
    this.codec = info.codec
    this.parameterSets.clear()
    this.remember(info.codec, info.parameterSets)
    this.waitKeyframe = true
    // New parameters restart ffmpeg now; the same ones keep it (the next keyframe checks again:
    // many cameras send their parameter sets only in band).
    const running = this.current
    const picture = this.picture()
    if (running && picture && !sameGeometry(running, info.codec, picture)) {
      this.o.logger.info(
        { from: running.source, to: picture, codec: info.codec },
        'analytics decoder: the stream restarted with other parameters; restarting ffmpeg',
      )
      this.end(running)
    }
  }

  frame(au: AccessUnit): void {
    if (this.closed) return
    this.counts.framesIn++
    if (au.codec !== this.codec) {
      this.codec = au.codec
      this.parameterSets.clear()
    }
    if (au.damaged || (this.waitKeyframe && !au.keyframe)) {
      this.skip()
      return
    }
    const problem = accessUnitProblem(au)
    if (problem) {
      if (problem.kind === 'malformed') {
        this.skip()
        this.report(
          'malformed',
          `skipped a malformed access unit (${problem.reason}); resuming at the next keyframe`,
        )
      } else this.counts.framesSkipped++
      return
    }
    this.remember(au.codec, au.nalus)
    if (au.keyframe && !this.readyFor(au.codec)) {
      this.skip()
      return
    }
    const proc = this.current
    if (!proc) {
      this.skip()
      return
    }
    if (proc.times.pending >= MAX_PENDING_FRAMES || proc.proc.stdin.writableLength > MAX_STDIN_BYTES) {
      // Behind: let it catch up on what it has, resume at a keyframe. Stuck: restart it.
      if (performance.now() - proc.lastOutputAt > STALL_MS) this.fail(proc, 'ffmpeg stopped producing frames')
      this.skip()
      return
    }
    this.waitKeyframe = false
    proc.times.fed(au.wallMs)
    this.counts.framesFed++
    proc.proc.stdin.write(decoderInput(au, [...this.parameterSets.values()]))
  }

  stop(reason: string): void {
    this.waitKeyframe = true
    const running = this.current
    if (!running) return
    this.o.logger.debug({ reason }, 'analytics decoder: the camera stream stopped; stopping ffmpeg')
    this.end(running)
  }

  /** Stops ffmpeg and resolves once no process of this decoder is left. */
  async close(): Promise<void> {
    this.closed = true
    if (this.current) this.end(this.current)
    await Promise.all([...this.exits])
  }

  /**
   * At a keyframe: a running ffmpeg for this stream's codec and size, started or restarted as
   * needed. False when there is none to write to (no SPS to size the frames, or waiting to retry).
   */
  private readyFor(codec: AccessUnit['codec']): boolean {
    const picture = this.picture()
    if (!picture) {
      this.report('no-sps', 'the stream sent no usable sequence parameter set: cannot size the frames yet')
      return false
    }
    const running = this.current
    if (running && !sameGeometry(running, codec, picture)) {
      this.o.logger.info(
        { from: running.source, to: picture, codec },
        'analytics decoder: the picture size changed; restarting ffmpeg',
      )
      this.end(running)
    }
    if (this.current) return true
    if (performance.now() < this.retryAt) return false
    this.spawn(codec, picture)
    return this.current !== undefined
  }

  private picture(): Size | undefined {
    if (!this.codec) return undefined
    const format = videoFormat(this.codec, [...this.parameterSets.values()])
    return format && format.width >= 2 && format.height >= 2
      ? { width: format.width, height: format.height }
      : undefined
  }

  private remember(codec: AccessUnit['codec'], nalus: readonly Buffer[]): void {
    const format = formatOf(codec)
    for (const n of nalus) if (format.isParameterSet(n)) this.parameterSets.set(format.parameterSetRank(n), n)
  }

  private skip(): void {
    this.counts.framesSkipped++
    this.waitKeyframe = true
  }

  private spawn(codec: AccessUnit['codec'], source: Size): void {
    const output = analyticsFrameSize(source, this.maxSize)
    const startedAt = performance.now()
    let proc: ChildProcessWithoutNullStreams
    try {
      proc = spawn(this.o.ffmpeg, ffmpegArgs(codec, output), { stdio: ['pipe', 'pipe', 'pipe'] })
    } catch (err) {
      this.retryLater(startedAt, `ffmpeg could not start (${(err as Error).message})`)
      return
    }
    this.spawned++
    const p: DecoderProcess = {
      proc,
      codec,
      source,
      output,
      splitter: new RawFrameSplitter(yuv420pBytes(output)),
      times: new FrameTimes(),
      startedAt,
      lastOutputAt: startedAt,
      stderrTail: '',
      stderrLine: '',
      spawnError: undefined,
    }
    this.current = p
    this.o.logger.debug({ pid: proc.pid, codec, source, output }, 'analytics decoder: ffmpeg started')
    proc.stdout.on('data', (chunk: Buffer) => this.output(p, chunk))
    proc.stderr.on('data', (chunk: Buffer) => this.stderr(p, chunk))
    proc.stdin.on('error', () => {}) // EPIPE once ffmpeg is gone: its end is handled on 'close'
    proc.on('error', (err) => {
      p.spawnError = err.message
    })
    // 'close' comes after the process ended, also when it never started (after 'error').
    const exited = new Promise<void>((resolve) => {
      proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.exits.delete(exited)
        this.exited(p, code, signal)
        resolve()
      })
    })
    this.exits.add(exited)
  }

  private output(p: DecoderProcess, chunk: Buffer): void {
    if (this.current !== p) return // the last bytes of a process already replaced
    for (const data of p.splitter.push(chunk)) {
      const now = performance.now()
      p.lastOutputAt = now
      this.counts.framesDecoded++
      const resyncs = p.times.resyncs
      const time = p.times.decoded(now)
      if (p.times.resyncs !== resyncs) {
        this.counts.resyncs++
        this.o.logger.info(
          { discarded: p.times.discarded },
          'analytics decoder: ffmpeg produced fewer frames than it was given; frame times resynchronised',
        )
      }
      if (time === undefined) {
        this.counts.framesUnpaired++
        continue
      }
      if (!this.limiter.keep(time)) continue
      this.counts.framesKept++
      try {
        this.o.onFrame({ width: p.output.width, height: p.output.height, data, time })
      } catch (err) {
        this.o.logger.error({ err }, 'analytics decoder: the frame handler failed')
      }
    }
  }

  private stderr(p: DecoderProcess, chunk: Buffer): void {
    const text = chunk.toString('utf8')
    p.stderrTail = (p.stderrTail + text).slice(-2000)
    if (this.current !== p) return
    // At `-loglevel error` every line is a problem: a broken picture, mostly (ffmpeg conceals it or
    // drops it, and recovers at the next keyframe by itself).
    const lines = (p.stderrLine + text).split('\n')
    p.stderrLine = (lines.pop() ?? '').slice(-1000)
    for (const line of lines) {
      const clean = ffmpegLine(line)
      if (clean) this.report('decode', `ffmpeg reported a decoding error: ${clean}`)
    }
  }

  private exited(p: DecoderProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.current !== p) return // ended on purpose
    const last = ffmpegLine(p.stderrTail.trim().split('\n').at(-1) ?? '')
    const reason = p.spawnError
      ? `ffmpeg could not start (${p.spawnError})`
      : `ffmpeg exited unexpectedly (${signal ? `signal ${signal}` : `code ${code}`})${last ? `: ${last}` : ''}`
    this.o.logger.warn(
      { code, signal, stderr: p.stderrTail.trim().slice(-500) },
      'analytics decoder: ffmpeg ended',
    )
    this.current = undefined
    this.retryLater(p.startedAt, reason)
  }

  /** Ends a process that misbehaves while running, as if it had crashed. */
  private fail(p: DecoderProcess, reason: string): void {
    this.end(p)
    this.retryLater(p.startedAt, reason)
  }

  private retryLater(startedAt: number, reason: string): void {
    const now = performance.now()
    this.retryDelayMs =
      this.retryDelayMs === 0 || now - startedAt >= STABLE_RUN_MS
        ? FIRST_RETRY_MS
        : Math.min(this.retryDelayMs * 2, MAX_RETRY_MS)
    this.retryAt = now + this.retryDelayMs
    this.waitKeyframe = true
    // Every failure is reported: the doubling delay bounds how often.
    this.report(
      'failure',
      `${reason}; restarting in ${this.retryDelayMs / 1000} s, at the next keyframe`,
      true,
    )
  }

  /** Kills a process on purpose (no report): its late output and exit are ignored. */
  private end(p: DecoderProcess): void {
    if (this.current === p) this.current = undefined
    p.proc.stdin.destroy()
    p.proc.kill('SIGKILL')
  }

  private report(kind: string, reason: string, always = false): void {
    this.lastError = reason
    const now = performance.now()
    const last = this.reportedAt.get(kind)
    if (!always && last !== undefined && now - last < REPORT_INTERVAL_MS) {
      this.o.logger.debug(reason)
      return
    }
    this.reportedAt.set(kind, now)
    this.o.logger.warn(`analytics decoder: ${reason}`)
    try {
      this.o.onError?.(reason)
    } catch (err) {
      this.o.logger.error({ err }, 'analytics decoder: the error handler failed')
    }
  }
}

function sameGeometry(p: DecoderProcess, codec: AccessUnit['codec'], picture: Size): boolean {
  return p.codec === codec && p.source.width === picture.width && p.source.height === picture.height
}

/** A line of ffmpeg's log, readable and bounded: without the `@ 0x…` context addresses. */
function ffmpegLine(line: string): string {
  return cleanText(line.replace(/ @ 0x[0-9a-f]+\]/g, ']').trim(), { maxLength: 300 })
}
