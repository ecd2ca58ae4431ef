import { spawn } from 'node:child_process'
import {
  type CameraProbeResult,
  cleanText,
  type DownRequest,
  PROBE_STILL_MAX_BASE64,
  type StreamRole,
  type UpResponse,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import { answerRequest } from '../link/answer-request.ts'
import { type AccessUnit, toAnnexB } from '../media/codec/access-unit.ts'
import { H264, h264NalType } from '../media/codec/h264.ts'
import { H265, h265NalType } from '../media/codec/h265.ts'
import { unescapeRbsp, videoFormat } from '../media/codec/sps.ts'
import { Condition } from '../media/core/condition.ts'
import type { Consumer } from '../media/core/producer.ts'
import type { StreamInfo } from '../media/rtsp/client.ts'
import { type CameraManager, type StreamLease, StreamUnavailable } from './camera-manager.ts'

/**
 * "Test stream" (`camera.probe`): what an installer checks when a camera is added — the stream's
 * codec, picture size and profile (from its parameter sets), its frame rate and bitrate as measured
 * over about two seconds of frames, and one still frame decoded from a keyframe by ffmpeg, scaled to
 * at most 640 pixels wide. The stream is borrowed from the camera manager (the recorder's own
 * session, or one opened on demand), never a second connection when one runs. Everything is bounded
 * by the request's deadline; the lease is released and ffmpeg killed whatever happens.
 */
type ProbeRequest = Extract<DownRequest, { op: 'camera.probe' }>

export class ProbeError extends Error {
  override name = 'ProbeError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface StreamProbeOptions {
  cameras: CameraManager
  logger: Logger
  respond: (response: Omit<UpResponse, 'v'>) => Promise<void>
  /** ffmpeg, to decode the still frame (undefined: the answer has no still, and says why). */
  ffmpeg: string | undefined
  /** How long frames are counted for the frame rate (2 s). */
  measureMs?: number
  /** Probes at once (each may run an ffmpeg); more are refused as busy. */
  maxConcurrent?: number
}

export const NO_FFMPEG = 'the agent has no ffmpeg to decode a still frame'
/** The widest still frame. */
export const STILL_MAX_WIDTH = 640
/** Time kept back from the hub's deadline for the answer to travel. */
const DEADLINE_MARGIN_MS = 1000
/** No probe runs longer than this, whatever the deadline says. */
const MAX_PROBE_MS = 30_000
/** Most bytes ffmpeg may write for one still before it is stopped (what may be sent is less). */
const MAX_JPEG_BYTES = 2 * 1024 * 1024

/**
 * Frames per second from a run of frame timestamps (90 kHz): the frames between the first and the
 * last over the time they span. Order does not matter (B-frames send timestamps out of order); null
 * when fewer than three frames or less than 200 ms were seen.
 */
export function fpsFromTimestamps(timestamps: readonly number[], clockRate = 90_000): number | null {
  if (timestamps.length < 3) return null
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  for (const t of timestamps) {
    if (t < min) min = t
    if (t > max) max = t
  }
  const seconds = (max - min) / clockRate
  if (!(seconds >= 0.2)) return null
  return Math.round(((timestamps.length - 1) / seconds) * 100) / 100
}

/** Kilobits per second of the frames that span `seconds` (every frame but the last). */
export function bitrateKbps(frameBytes: readonly number[], seconds: number): number | null {
  if (frameBytes.length < 3 || !(seconds > 0)) return null
  const bytes = frameBytes.slice(0, -1).reduce((n, b) => n + b, 0)
  return Math.round((bytes * 8) / seconds / 1000)
}

const H264_PROFILES: Record<number, string> = {
  44: 'CAVLC 4:4:4 Intra',
  66: 'Baseline',
  77: 'Main',
  88: 'Extended',
  100: 'High',
  110: 'High 10',
  122: 'High 4:2:2',
  244: 'High 4:4:4 Predictive',
}
const H265_PROFILES: Record<number, string> = {
  1: 'Main',
  2: 'Main 10',
  3: 'Main Still Picture',
  4: 'Range Extensions',
}

const formatOf = (codec: 'h264' | 'h265') => (codec === 'h264' ? H264 : H265)
const isSps = (codec: 'h264' | 'h265', nal: Buffer) =>
  codec === 'h264' ? h264NalType(nal) === 7 : h265NalType(nal) === 33

/** The profile's name from a sequence parameter set (H.264 or H.265); undefined when unknown. */
export function profileName(codec: 'h264' | 'h265', sps: Buffer): string | undefined {
  if (sps.length < 4 || !isSps(codec, sps)) return undefined
  if (codec === 'h264') {
    const idc = sps[1] as number
    const constrained = ((sps[2] as number) & 0x40) !== 0
    const name = H264_PROFILES[idc]
    if (!name) return `profile ${idc}`
    return idc === 66 && constrained ? 'Constrained Baseline' : name
  }
  const rbsp = unescapeRbsp(sps, 2)
  if (rbsp.length < 2) return undefined
  const idc = (rbsp[1] as number) & 0x1f
  return H265_PROFILES[idc] ?? `profile ${idc}`
}

/**
 * What a decoder needs for one picture: the keyframe in Annex B, led by the stream's parameter sets
 * (VPS/SPS/PPS order) of the kinds the keyframe does not carry itself.
 */
export function keyframeAnnexB(codec: 'h264' | 'h265', parameterSets: Buffer[], nalus: Buffer[]): Buffer {
  const format = formatOf(codec)
  const carried = new Set(
    nalus.filter((n) => format.isParameterSet(n)).map((n) => format.parameterSetRank(n)),
  )
  const lead = parameterSets
    .filter((n) => format.isParameterSet(n) && !carried.has(format.parameterSetRank(n)))
    .sort((a, b) => format.parameterSetRank(a) - format.parameterSetRank(b))
  return toAnnexB([...lead, ...nalus])
}

/** The probe's consumer of the camera stream: parameter sets, the first keyframes, frame timing. */
class ProbeConsumer implements Consumer {
  readonly name = 'probe'
  codec: 'h264' | 'h265' | undefined
  parameterSets: Buffer[] = []
  /** The first keyframe seen (its parameter sets say what the stream is). */
  keyframe: AccessUnit | undefined
  /** The first keyframe that arrived whole (the one decoded for the still). */
  cleanKeyframe: AccessUnit | undefined
  keyframeAt = 0
  timestamps: number[] = []
  frameBytes: number[] = []
  private counting = true
  private readonly condition = new Condition()

  start(info: StreamInfo): void {
    this.codec = info.codec
    this.parameterSets = [...info.parameterSets]
    // A restarted stream has a new timeline: its frames cannot be timed with the old ones.
    this.timestamps = []
    this.frameBytes = []
  }

  frame(au: AccessUnit): void {
    this.codec = au.codec
    if (!this.keyframe && !au.keyframe) return
    if (au.keyframe) {
      if (!this.keyframe) {
        this.keyframe = au
        this.keyframeAt = Date.now()
      }
      if (!this.cleanKeyframe && !au.damaged) this.cleanKeyframe = au
      const own = au.nalus.filter((n) => formatOf(au.codec).isParameterSet(n))
      if (own.length > 0) this.parameterSets = own
    }
    if (this.counting) {
      this.timestamps.push(au.timestamp)
      this.frameBytes.push(au.nalus.reduce((n, b) => n + b.length, 0))
    }
    this.condition.changed()
  }

  stop(): void {
    this.timestamps = []
    this.frameBytes = []
  }

  /** Stops counting frames (the measurement is over). */
  freeze(): void {
    this.counting = false
  }

  /** Waits until `test()` holds or the time is up; returns whether it holds. */
  until(test: () => boolean, timeoutMs: number): Promise<boolean> {
    return this.condition.until(test, timeoutMs)
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)))

/**
 * One picture from a keyframe (Annex B on stdin) as a JPEG on stdout, at most `STILL_MAX_WIDTH`
 * wide. Fixed arguments, no shell, no URL: only the media goes to ffmpeg. Killed at the timeout.
 */
export function decodeStill(
  ffmpeg: string,
  codec: 'h264' | 'h265',
  annexB: Buffer,
  timeoutMs: number,
  quality = 5,
  maxWidth = STILL_MAX_WIDTH,
): Promise<{ jpeg: Buffer } | { error: string }> {
  return new Promise((resolve) => {
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      codec === 'h264' ? 'h264' : 'hevc',
      '-i',
      'pipe:0',
      '-an',
      '-frames:v',
      '1',
      '-vf',
      `scale='min(${Math.max(16, Math.round(maxWidth))},iw)':-2:flags=bilinear,format=yuvj420p`,
      '-c:v',
      'mjpeg',
      '-q:v',
      String(quality),
      '-f',
      'image2pipe',
      'pipe:1',
    ]
    let settled = false
    const chunks: Buffer[] = []
    let bytes = 0
    let stderr = ''
    const proc = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const finish = (outcome: { jpeg: Buffer } | { error: string }) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      proc.kill('SIGKILL')
      resolve(outcome)
    }
    const timer = setTimeout(
      () => finish({ error: `ffmpeg did not decode the keyframe within ${Math.round(timeoutMs / 1000)} s` }),
      Math.max(100, timeoutMs),
    )
    proc.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes > MAX_JPEG_BYTES) {
        finish({ error: 'the still frame is too large to send' })
        return
      }
      chunks.push(chunk)
    })
    proc.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-2000)
    })
    proc.stdin.on('error', () => {}) // ffmpeg gone: its exit says why
    proc.on('error', (err) => finish({ error: `ffmpeg could not start: ${err.message}` }))
    proc.on('close', (code) => {
      const jpeg = Buffer.concat(chunks)
      if (code === 0 && jpeg.length > 2 && jpeg[0] === 0xff && jpeg[1] === 0xd8) finish({ jpeg })
      else {
        const why = cleanText(stderr.trim().split('\n').at(-1) ?? '', { maxLength: 300 }).trim()
        finish({ error: `ffmpeg could not decode the keyframe${why ? `: ${why}` : ''}` })
      }
    })
    proc.stdin.end(annexB)
  })
}

export class StreamProbe {
  private running = 0

  constructor(private readonly o: StreamProbeOptions) {}

  handle(request: ProbeRequest): Promise<void> {
    return answerRequest(
      request,
      this.o,
      async () => ({ ...(await this.probe(request)) }),
      (err) =>
        err instanceof ProbeError ? { status: err.status, code: err.code, message: err.message } : undefined,
    )
  }

  async probe(request: ProbeRequest): Promise<CameraProbeResult> {
    const max = this.o.maxConcurrent ?? 2
    if (this.running >= max)
      throw new ProbeError(503, 'probe_busy', `the agent tests at most ${max} streams at a time; try again`)
    this.running++
    try {
      return await this.run(request.cameraId, request.stream, Date.parse(request.deadline))
    } finally {
      this.running--
    }
  }

  private async run(cameraId: string, role: StreamRole, deadline: number): Promise<CameraProbeResult> {
    const started = Date.now()
    const end = Math.min(deadline - DEADLINE_MARGIN_MS, started + MAX_PROBE_MS)
    const measureMs = this.o.measureMs ?? 2000
    let lease: StreamLease
    try {
      lease = this.o.cameras.acquireStream(cameraId, role)
    } catch (err) {
      if (err instanceof StreamUnavailable) throw new ProbeError(err.status, err.code, err.message)
      throw err
    }
    const consumer = new ProbeConsumer()
    const subscription = lease.source.producer.subscribe(consumer, { queueFrames: 120 })
    try {
      // Room is left after the first keyframe for at least a short measurement.
      const waitMs = Math.max(500, end - Date.now() - Math.min(measureMs, 1000))
      if (!(await consumer.until(() => consumer.keyframe !== undefined, waitMs))) {
        throw new ProbeError(
          503,
          'camera_unavailable',
          `the camera's ${role} stream sent no video within ${Math.max(1, Math.round(waitMs / 1000))} s`,
        )
      }
      const key = consumer.keyframe as AccessUnit
      const codec = key.codec
      const format = videoFormat(codec, consumer.parameterSets)
      const sps = consumer.parameterSets.find((n) => isSps(codec, n))
      const profile = sps ? profileName(codec, sps) : undefined

      const still = this.still(consumer, codec, end)
      // Frames are timed from the first keyframe for `measureMs`, or what the deadline leaves.
      await delay(Math.min(consumer.keyframeAt + measureMs, end - 300) - Date.now())
      consumer.freeze()
      const timestamps = consumer.timestamps
      const fps = fpsFromTimestamps(timestamps)
      const span = timestamps.length > 1 ? (Math.max(...timestamps) - Math.min(...timestamps)) / 90_000 : 0
      const picture = await still
      this.o.logger.info(
        { camera: cameraId, stream: role, codec, fps, still: 'jpeg' in picture },
        'tested a camera stream',
      )
      return {
        stream: role,
        codec,
        width: format?.width ?? 0,
        height: format?.height ?? 0,
        fps,
        ...(profile ? { profile } : {}),
        bitrateKbps: bitrateKbps(consumer.frameBytes, span),
        still:
          'jpeg' in picture ? { contentType: 'image/jpeg', base64: picture.jpeg.toString('base64') } : null,
        ...('error' in picture ? { stillError: picture.error.slice(0, 500) } : {}),
      }
    } finally {
      lease.source.producer.unsubscribe(subscription)
      lease.release()
    }
  }

  /**
   * A current still of a camera stream (`camera.snapshot` when the camera has no device picture):
   * the first whole keyframe the stream delivers, decoded by ffmpeg to a JPEG at most `maxWidth`
   * wide. Borrows the stream like a probe (and counts against the same limit); throws ProbeError.
   */
  async stillJpeg(
    cameraId: string,
    o: { role: StreamRole; maxWidth: number; deadline: number; quality?: number },
  ): Promise<Buffer> {
    const ffmpeg = this.o.ffmpeg
    if (!ffmpeg) throw new ProbeError(503, 'no_ffmpeg', NO_FFMPEG)
    const max = this.o.maxConcurrent ?? 2
    if (this.running >= max)
      throw new ProbeError(503, 'probe_busy', `the agent decodes at most ${max} streams at a time; try again`)
    this.running++
    let lease: StreamLease | undefined
    try {
      try {
        lease = this.o.cameras.acquireStream(cameraId, o.role)
      } catch (err) {
        if (err instanceof StreamUnavailable) throw new ProbeError(err.status, err.code, err.message)
        throw err
      }
      const end = Math.min(o.deadline, Date.now() + MAX_PROBE_MS)
      const consumer = new ProbeConsumer()
      const subscription = lease.source.producer.subscribe(consumer, { queueFrames: 120 })
      try {
        const waitMs = Math.max(100, end - Date.now() - 1000)
        if (!(await consumer.until(() => consumer.cleanKeyframe !== undefined, waitMs)))
          throw new ProbeError(
            503,
            'camera_unavailable',
            `the camera's ${o.role} stream sent no whole keyframe within ${Math.max(1, Math.round(waitMs / 1000))} s`,
          )
        const key = consumer.cleanKeyframe as AccessUnit
        const input = keyframeAnnexB(key.codec, consumer.parameterSets, key.nalus)
        const out = await decodeStill(
          ffmpeg,
          key.codec,
          input,
          Math.max(200, Math.min(end - Date.now(), 10_000)),
          o.quality ?? 3,
          o.maxWidth,
        )
        if ('error' in out) throw new ProbeError(502, 'still_failed', out.error)
        return out.jpeg
      } finally {
        lease.source.producer.unsubscribe(subscription)
      }
    } finally {
      lease?.release()
      this.running--
    }
  }

  /** The still: decoded from the first whole keyframe, at a lower quality if the first is too large. */
  private async still(
    consumer: ProbeConsumer,
    codec: 'h264' | 'h265',
    end: number,
  ): Promise<{ jpeg: Buffer } | { error: string }> {
    const ffmpeg = this.o.ffmpeg
    if (!ffmpeg) return { error: NO_FFMPEG }
    const whole = await consumer.until(() => consumer.cleanKeyframe !== undefined, end - Date.now() - 1000)
    const key = consumer.cleanKeyframe
    if (!whole || !key) return { error: 'no keyframe arrived whole in time to decode a still frame' }
    const input = keyframeAnnexB(codec, consumer.parameterSets, key.nalus)
    for (const quality of [5, 20]) {
      const left = end - Date.now()
      if (left < 200) return { error: 'no time was left to decode a still frame' }
      const out = await decodeStill(ffmpeg, codec, input, Math.min(left, 10_000), quality)
      if ('error' in out) return out
      if (Math.ceil(out.jpeg.length / 3) * 4 <= PROBE_STILL_MAX_BASE64) return out
    }
    return { error: 'the still frame is too large to send' }
  }
}
