import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs'
import { EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output, StreamTarget } from 'mediabunny'
import { type AccessUnit, toAnnexB } from '../media/codec/access-unit.ts'
import type { VideoFormat } from '../media/codec/sps.ts'

/**
 * One recording segment: a fragmented MP4 file (mediabunny), written append-only, one fragment
 * about every second, each fsynced before it is reported durable. A crash loses at most the
 * fragment being written (about a second or two); everything reported stays playable.
 *
 * Frames are passed on one frame late, so that each gets its real duration (the gap to the next
 * frame's timestamp); timestamps are made strictly increasing in case a camera repeats one.
 */
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
  private written = 0
  private readonly output: Output
  private readonly source: EncodedVideoPacketSource
  private pending: AccessUnit | undefined
  private lastPts = -1
  private lastDuration = CLOCK / 15
  private frames = 0
  /** Frames wholly before the packet being added: what a fragment finished now contains. */
  private framesBefore = 0
  private configured = false
  private adding = 0
  private fragmentStartPts: number
  private readonly durable: DurableFragment[] = []
  private readonly completed: { offsetEnd: number; startPts: number; endPts: number; frames: number }[] = []
  readonly startPts: number
  readonly startMs: number

  constructor(
    readonly file: string,
    private readonly format: VideoFormat,
    first: AccessUnit,
    private readonly onDurable: (f: DurableFragment) => void,
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
          // The fragment ends where the packet now being added begins.
          this.completed.push({
            offsetEnd: position + data.length,
            startPts: this.fragmentStartPts,
            endPts: this.adding,
            frames: this.framesBefore,
          })
          this.fragmentStartPts = this.adding
        },
      }),
      target: new StreamTarget(writable),
    })
    this.source = new EncodedVideoPacketSource(format.codec === 'h264' ? 'avc' : 'hevc')
    // No frame rate: cameras' rates wander, so the track keeps the default fine timescale.
    this.output.addVideoTrack(this.source)
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
    await this.output.finalize()
    this.flushDurable()
    fsyncSync(this.fd)
    closeSync(this.fd)
    return { bytes: this.written, endMs: this.startMs + ((endPts - this.startPts) * 1000) / CLOCK, endPts }
  }

  /** Closes the file without finishing it (stop on error); what is durable stays. */
  abandon(): void {
    try {
      closeSync(this.fd)
    } catch {}
  }
}
