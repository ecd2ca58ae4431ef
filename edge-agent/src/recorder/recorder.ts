import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import type { AccessUnit, AudioFrame } from '../media/codec/access-unit.ts'
import { type VideoFormat, videoFormat } from '../media/codec/sps.ts'
import type { Consumer } from '../media/core/producer.ts'
import { timestampJump } from '../media/rtp/timeline.ts'
import type { StreamInfo } from '../media/rtsp/client.ts'
import type { RecordingIndex } from './recording-index.ts'
import { SegmentWriter } from './segment-writer.ts'

/**
 * The recorder: a consumer of one camera stream that writes it, untouched (no transcoding), into
 * segment files cut at keyframes about every `segmentSeconds`, and keeps the index. When the
 * stream stops it opens a gap; when it comes back the gap closes and is reported. A failing write
 * (disk full, I/O error) ends that segment, closing its file at once (a handle left open on a file
 * that retention then deletes holds its space until restart); the next keyframe starts a new one,
 * so recording never stops for good.
 *
 * A jump in the camera's timestamps (media time no longer following wall time, see
 * `timestampJump`) also ends the segment, with a gap, as a reconnect would: squeezed or stretched
 * media time would otherwise keep the muxer from completing fragments (nothing durable) and the
 * segment from closing, for as long as the jump.
 */
export interface RecorderOptions {
  cameraId: string
  stream: string
  dir: string
  index: RecordingIndex
  segmentSeconds: number
  logger: Logger
  onGap?: (gap: { fromMs: number; toMs: number; reason: string }) => void
  /** Called before a segment opens (retention makes room). */
  beforeSegment?: () => void
}

const CLOCK = 90_000

function sameFormat(a: VideoFormat, b: VideoFormat) {
  return (
    a.codec === b.codec && a.width === b.width && a.height === b.height && a.codecString === b.codecString
  )
}

export class Recorder implements Consumer {
  readonly name = 'recorder'
  private info: StreamInfo | undefined
  private writer: SegmentWriter | undefined
  private lastWrittenMs: number | undefined
  private segmentId = 0
  private format: VideoFormat | undefined
  private lastWallMs: number | undefined
  /** The previous frame of this session, to see timestamp jumps. */
  private prev: { timestamp: number; wallMs: number } | undefined
  /** Segments whose close the index could not record yet (see closeInIndex). */
  private readonly unclosed = new Map<number, { bytes: number; endMs?: number }>()
  /** Bytes and frames written, for health. */
  frames = 0
  segments = 0
  /** Jumps in the camera's timestamps that cut a segment short, for health. */
  timestampJumps = 0
  lastError: string | undefined

  constructor(private readonly o: RecorderOptions) {}

  get recording(): boolean {
    return this.writer !== undefined
  }

  /**
   * When a fragment last became durable (the agent's clock), for `recording.stopped`: a writer
   * open but failing, or a stream that streams with nothing reaching the disk, shows as this
   * falling behind.
   */
  get lastWrittenAt(): string | undefined {
    return this.lastWrittenMs === undefined ? undefined : new Date(this.lastWrittenMs).toISOString()
  }

  /**
   * For camera health: the camera's clock against the agent's when it is beyond the bound (its
   * sender reports are ignored), and the timestamp jumps that cut segments. Empty when all is well.
   */
  get timeHealth(): { clockDriftMs?: number; timestampJumps?: number } {
    const clock = this.info?.clock?.status
    return {
      ...(clock?.drift && clock.cameraOffsetMs !== undefined
        ? { clockDriftMs: Math.round(clock.cameraOffsetMs) }
        : {}),
      ...(this.timestampJumps > 0 ? { timestampJumps: this.timestampJumps } : {}),
    }
  }

  start(info: StreamInfo): void {
    this.info = info
    this.prev = undefined
    this.format = videoFormat(info.codec, info.parameterSets)
  }

  async frame(au: AccessUnit): Promise<void> {
    try {
      await this.record(au)
    } catch (err) {
      // The index failed (its disk is full, say): this frame is lost, the next keyframe retries.
      this.fail(err)
    }
  }

  private async record(au: AccessUnit): Promise<void> {
    const prev = this.prev
    this.prev = { timestamp: au.timestamp, wallMs: au.wallMs }
    const jump = prev && timestampJump(prev, au, this.info?.clockRate ?? CLOCK)
    if (jump) {
      this.timestampJumps++
      this.o.logger.warn({ camera: this.o.cameraId, jump }, 'camera timestamps jumped: new segment')
      if (this.writer) {
        await this.closeSegment()
        this.o.index.openGap(this.o.cameraId, this.o.stream, prev.wallMs, jump)
      }
    }
    if (au.keyframe) {
      const f = videoFormat(au.codec, au.nalus)
      if (f && this.format && !sameFormat(f, this.format)) {
        this.o.logger.info(
          { camera: this.o.cameraId, from: this.format, to: f },
          'stream format changed: new segment',
        )
        await this.closeSegment()
      }
      if (f) this.format = f
    }
    // Measured to this keyframe (the segment's end if cut here), not to the previous frame's start,
    // which would run every segment one GOP past its target.
    if (this.writer && au.keyframe && au.timestamp - this.writer.startPts >= this.o.segmentSeconds * CLOCK)
      await this.closeSegment()
    if (!this.writer) {
      if (!au.keyframe || !this.format) return // a segment starts on a keyframe
      await this.openSegment(au)
    }
    try {
      await this.writer?.write(au)
      this.frames++
      this.lastWallMs = au.wallMs
    } catch (err) {
      this.fail(err)
    }
  }

  /** Audio goes into the open segment; none is kept before a segment's first keyframe. */
  async audio(frame: AudioFrame): Promise<void> {
    await this.writer?.writeAudio(frame)
  }

  private async openSegment(first: AccessUnit): Promise<void> {
    const format = this.format as VideoFormat
    this.o.beforeSegment?.()
    this.retryUnclosed()
    const gap = this.o.index.closeGap(this.o.cameraId, this.o.stream, first.wallMs)
    if (gap) this.o.onGap?.({ fromMs: gap.from_ms, toMs: first.wallMs, reason: gap.reason })
    const day = new Date(first.wallMs).toISOString().slice(0, 10)
    const dir = path.join(this.o.dir, this.o.cameraId, this.o.stream, day)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const file = path.join(dir, `${Math.round(first.wallMs)}-${first.timestamp % 100000}.mp4`)
    // The index row comes first: every file on disk has one, so repair finds it after a crash.
    this.segmentId = this.o.index.openSegment({
      camera_id: this.o.cameraId,
      stream: this.o.stream,
      path: file,
      start_ms: first.wallMs,
      start_pts: first.timestamp,
      codec: format.codec,
      codec_string: format.codecString,
      width: format.width,
      height: format.height,
      parameter_sets: (this.info?.parameterSets ?? []).map((p) => p.toString('base64')).join(','),
    })
    const id = this.segmentId
    let writer: SegmentWriter | undefined
    try {
      writer = new SegmentWriter(
        file,
        format,
        first,
        (f) => {
          this.o.index.addFragment(id, f)
          this.lastWrittenMs = Date.now()
        },
        this.info?.audio,
      )
      await writer.start()
      this.writer = writer
      this.segments++
    } catch (err) {
      writer?.abandon()
      rmSync(file, { force: true })
      try {
        this.o.index.deleteSegment(id)
      } catch {
        this.unclosed.set(id, { bytes: 0 }) // an empty closed row: retention removes it
      }
      this.fail(err)
    }
  }

  private fail(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err)
    this.o.logger.error(
      { err, camera: this.o.cameraId },
      'recording failed; a new segment starts at the next keyframe',
    )
    const w = this.writer
    this.writer = undefined
    if (w) this.closeInIndex(this.segmentId, w.abandon())
  }

  /**
   * Marks a segment closed in the index. If the index cannot be written (its disk full), the
   * segment is remembered and closed before the next one opens: an open row is one retention may
   * never delete, which would hold its space until restart.
   */
  private closeInIndex(id: number, bytes: number, endMs?: number): void {
    try {
      this.o.index.closeSegment(id, bytes, endMs)
      this.unclosed.delete(id)
    } catch (err) {
      this.unclosed.set(id, endMs === undefined ? { bytes } : { bytes, endMs })
      this.lastError = err instanceof Error ? err.message : String(err)
    }
  }

  private retryUnclosed(): void {
    for (const [id, c] of this.unclosed) this.closeInIndex(id, c.bytes, c.endMs)
  }

  private async closeSegment(): Promise<void> {
    const w = this.writer
    this.writer = undefined
    if (!w) return
    let end: { bytes: number; endMs: number } | undefined
    try {
      end = await w.close()
    } catch (err) {
      // The file is closed whatever happened (close() abandons it on error); keep what is durable.
      this.writer = w
      this.fail(err)
      return
    }
    this.closeInIndex(this.segmentId, end.bytes, end.endMs)
  }

  async stop(reason: string): Promise<void> {
    this.prev = undefined
    await this.closeSegment()
    try {
      this.retryUnclosed()
      if (this.lastWallMs !== undefined)
        this.o.index.openGap(this.o.cameraId, this.o.stream, this.lastWallMs, reason)
    } catch (err) {
      this.fail(err)
    }
  }
}
