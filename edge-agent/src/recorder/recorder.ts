import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import type { AccessUnit, AudioFrame } from '../media/codec/access-unit.ts'
import { type VideoFormat, videoFormat } from '../media/codec/sps.ts'
import type { Consumer } from '../media/core/producer.ts'
import type { StreamInfo } from '../media/rtsp/client.ts'
import type { RecordingIndex } from './recording-index.ts'
import { SegmentWriter } from './segment-writer.ts'

/**
 * The recorder: a consumer of one camera stream that writes it, untouched (no transcoding), into
 * segment files cut at keyframes about every `segmentSeconds`, and keeps the index. When the
 * stream stops it opens a gap; when it comes back the gap closes and is reported. A failing write
 * (disk full, I/O error) ends that segment; the next keyframe starts a new one, so recording
 * never stops for good.
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
  private segmentId = 0
  private format: VideoFormat | undefined
  private lastWallMs: number | undefined
  /** Bytes and frames written, for health. */
  frames = 0
  segments = 0
  lastError: string | undefined

  constructor(private readonly o: RecorderOptions) {}

  get recording(): boolean {
    return this.writer !== undefined
  }

  start(info: StreamInfo): void {
    this.info = info
    this.format = videoFormat(info.codec, info.parameterSets)
  }

  async frame(au: AccessUnit): Promise<void> {
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
    try {
      const writer = new SegmentWriter(
        file,
        format,
        first,
        (f) => this.o.index.addFragment(id, f),
        this.info?.audio,
      )
      await writer.start()
      this.writer = writer
      this.segments++
    } catch (err) {
      this.o.index.deleteSegment(id)
      rmSync(file, { force: true })
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
    if (w) {
      w.abandon()
      this.o.index.closeSegment(this.segmentId, w.bytes)
    }
  }

  private async closeSegment(): Promise<void> {
    const w = this.writer
    this.writer = undefined
    if (!w) return
    try {
      const end = await w.close()
      this.o.index.closeSegment(this.segmentId, end.bytes, end.endMs)
    } catch (err) {
      this.fail(err)
      this.o.index.closeSegment(this.segmentId, w.bytes)
    }
  }

  async stop(reason: string): Promise<void> {
    await this.closeSegment()
    if (this.lastWallMs !== undefined)
      this.o.index.openGap(this.o.cameraId, this.o.stream, this.lastWallMs, reason)
  }
}
