import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import {
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedVideoPacketSource,
  Mp4OutputFormat,
  Output,
  StreamTarget,
} from 'mediabunny'
import { type AccessUnit, type AudioFormat, type AudioFrame, toAnnexB } from '../media/codec/access-unit.ts'
import type { VideoFormat } from '../media/codec/sps.ts'

/**
 * One recording segment: a fragmented MP4 file (mediabunny), written append-only, one fragment
 * about every second, each fsynced before it is reported durable. A crash loses at most the
 * fragment being written (about a second or two); everything reported stays playable.
 *
 * Frames are passed on one frame late, so that each gets its real duration (the gap to the next
 * frame's timestamp); timestamps are made strictly increasing in case a camera repeats one.
 *
 * Audio (AAC), when the stream has it, goes in a second track on the same wall clock. The muxer
 * closes a fragment only when every open track has reached it, so audio that stops (or never
 * starts) would hold back the video's durability: audio more than a second behind the video is
 * given up for the rest of the segment (the next segment tries again).
 */
const AUDIO_LAG_LIMIT_S = 1
export interface DurableFragment {
  /** Bytes of the file that are on disk and complete. */
  offsetEnd: number
  startMs: number
  endMs: number
  /** Media time (90 kHz, unwrapped) of the fragment's end. */
  endPts: number
  frames: number
}

const CLOCK = 90_000

export class SegmentWriter {
  private readonly fd: number
  private fdOpen = true
  private written = 0
  private readonly output: Output
  private readonly source: EncodedVideoPacketSource
  private pending: AccessUnit | undefined
  /** Unwrapped timestamps can be negative (a jump back across a wrap): no sentinel but -Infinity. */
  private lastPts = Number.NEGATIVE_INFINITY
  private lastDuration = CLOCK / 15
  private frames = 0
  /** Frames wholly before the packet being added: what a fragment finished now contains. */
  private framesBefore = 0
  private configured = false
  private adding = 0
  private fragmentStartPts: number
  /** Keyframes added since the fragment began: the muxer starts each new fragment on one. */
  private keyframes: { pts: number; framesBefore: number }[] = []
  private readonly audioSource: EncodedAudioPacketSource | undefined
  private audioOpen = false
  private lastAudioTs = Number.NEGATIVE_INFINITY
  private audioConfigured = false
  audioFrames = 0
  private readonly durable: DurableFragment[] = []
  private readonly completed: { offsetEnd: number; startPts: number; endPts: number; frames: number }[] = []
  readonly startPts: number
  readonly startMs: number

  constructor(
    readonly file: string,
    private readonly format: VideoFormat,
    first: AccessUnit,
    private readonly onDurable: (f: DurableFragment) => void,
    private readonly audio?: AudioFormat,
  ) {
    this.startPts = first.timestamp
    this.startMs = first.wallMs
    this.fragmentStartPts = first.timestamp
    this.fd = openSync(file, 'wx', 0o600)
    const writable = new WritableStream<{ type: 'write'; data: Uint8Array; position: number }>({
      write: (chunk) => {
        writeSync(this.fd, chunk.data, 0, chunk.data.length, chunk.position)
        this.written = Math.max(this.written, chunk.position + chunk.data.length)
        this.flushDurable()
      },
    })
    this.output = new Output({
      format: new Mp4OutputFormat({
        fastStart: 'fragmented',
        minimumFragmentDuration: 1,
        onMdat: (data, position) => {
          // The fragment ends at the keyframe the next one starts with: the first added at least a
          // fragment's length (1 s, less the muxer's audio lead) after this one began. At the end
          // of the file, at the end of the last frame.
          const next = this.keyframes.find((k) => k.pts - this.fragmentStartPts >= CLOCK * 0.95)
          const end = next ?? { pts: this.adding, framesBefore: this.framesBefore }
          this.completed.push({
            offsetEnd: position + data.length,
            startPts: this.fragmentStartPts,
            endPts: end.pts,
            frames: end.framesBefore,
          })
          this.fragmentStartPts = end.pts
          this.keyframes = this.keyframes.filter((k) => k.pts > end.pts)
        },
      }),
      target: new StreamTarget(writable),
    })
    this.source = new EncodedVideoPacketSource(format.codec === 'h264' ? 'avc' : 'hevc')
    // No frame rate: cameras' rates wander, so the track keeps the default fine timescale.
    this.output.addVideoTrack(this.source)
    if (audio) {
      this.audioSource = new EncodedAudioPacketSource('aac')
      this.output.addAudioTrack(this.audioSource)
      this.audioOpen = true
    }
  }

  /** An audio frame, placed by its wall-clock time; dropped before the segment's first frame. */
  async writeAudio(frame: AudioFrame): Promise<void> {
    if (!this.audioOpen || !this.audioSource || !this.audio) return
    const ts = (frame.wallMs - this.startMs) / 1000
    if (ts < 0 || ts <= this.lastAudioTs) return
    const duration = this.audio.frameLength / this.audio.sampleRate
    const packet = new EncodedPacket(frame.data, 'key', ts, duration)
    try {
      if (!this.audioConfigured) {
        this.audioConfigured = true
        await this.audioSource.add(packet, {
          decoderConfig: {
            codec: this.audio.codecString,
            numberOfChannels: this.audio.channels,
            sampleRate: this.audio.sampleRate,
            description: this.audio.config,
          },
        })
      } else {
        await this.audioSource.add(packet)
      }
      this.lastAudioTs = ts
      this.audioFrames++
    } catch {
      // A frame the muxer cannot place (too late for its fragment): audio stops for this segment.
      this.closeAudio()
    }
  }

  private closeAudio(): void {
    if (!this.audioOpen) return
    this.audioOpen = false
    this.audioSource?.close()
  }

  async start(): Promise<void> {
    await this.output.start()
  }

  private flushDurable(): void {
    const ready = this.completed.filter((c) => c.offsetEnd <= this.written)
    if (ready.length === 0) return
    fsyncSync(this.fd)
    for (const c of ready) {
      this.completed.splice(this.completed.indexOf(c), 1)
      const f = {
        offsetEnd: c.offsetEnd,
        startMs: this.startMs + ((c.startPts - this.startPts) * 1000) / CLOCK,
        endMs: this.startMs + ((c.endPts - this.startPts) * 1000) / CLOCK,
        endPts: c.endPts,
        frames: c.frames,
      }
      this.durable.push(f)
      this.onDurable(f)
    }
  }

  get bytes(): number {
    return this.written
  }

  async write(au: AccessUnit): Promise<void> {
    if (this.pending) await this.add(this.pending, au.timestamp - this.pending.timestamp)
    this.pending = au
  }

  private async add(au: AccessUnit, durationTicks: number): Promise<void> {
    let pts = au.timestamp
    if (pts <= this.lastPts) pts = this.lastPts + 1
    this.lastPts = pts
    const duration = durationTicks > 0 && durationTicks < CLOCK * 10 ? durationTicks : this.lastDuration
    this.lastDuration = duration
    this.adding = pts
    // Audio that lags too far would keep every fragment open: give it up for this segment.
    if (this.audioOpen && (pts - this.startPts) / CLOCK - Math.max(this.lastAudioTs, 0) > AUDIO_LAG_LIMIT_S)
      this.closeAudio()
    if (au.keyframe) this.keyframes.push({ pts, framesBefore: this.frames })
    const packet = new EncodedPacket(
      toAnnexB(au.nalus),
      au.keyframe ? 'key' : 'delta',
      (pts - this.startPts) / CLOCK,
      duration / CLOCK,
    )
    this.framesBefore = this.frames
    this.frames++
    if (!this.configured) {
      this.configured = true
      await this.source.add(packet, {
        decoderConfig: {
          codec: this.format.codecString,
          codedWidth: this.format.width,
          codedHeight: this.format.height,
        },
      })
    } else {
      await this.source.add(packet)
    }
  }

  /** Writes the last frame, finishes the file and syncs it. Returns the segment's end. */
  async close(): Promise<{ bytes: number; endMs: number; endPts: number }> {
    let endPts = this.lastPts
    if (this.pending) {
      const last = this.pending
      this.pending = undefined
      await this.add(last, this.lastDuration)
      endPts = this.lastPts + this.lastDuration
    }
    this.adding = endPts
    this.framesBefore = this.frames
    try {
      await this.output.finalize()
      this.flushDurable()
      fsyncSync(this.fd)
    } catch (err) {
      this.abandon()
      throw err
    }
    this.closeFd()
    return { bytes: this.written, endMs: this.startMs + ((endPts - this.startPts) * 1000) / CLOCK, endPts }
  }

  /** Bytes of the file that are durable and reported (whole fragments). */
  get durableBytes(): number {
    return this.durable.at(-1)?.offsetEnd ?? 0
  }

  /**
   * Closes the file without finishing it (stop on error): cut back to its durable fragments (a
   * half-written one would only hold space on a disk that is probably full) and closed, always,
   * so no handle outlives the segment. Returns the bytes kept.
   */
  abandon(): number {
    const bytes = this.durableBytes
    if (this.fdOpen) {
      try {
        ftruncateSync(this.fd, bytes)
      } catch {}
      this.closeFd()
    }
    // The muxer holds buffered media; it is of no use any more.
    try {
      this.output.cancel().catch(() => {})
    } catch {}
    return bytes
  }

  private closeFd(): void {
    if (!this.fdOpen) return
    this.fdOpen = false
    try {
      closeSync(this.fd)
    } catch {}
  }
}
