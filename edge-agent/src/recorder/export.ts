import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rm, stat } from 'node:fs/promises'
import {
  CustomSource,
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedPacketSink,
  EncodedVideoPacketSource,
  FilePathTarget,
  Input,
  MP4,
  Mp4OutputFormat,
  Output,
} from 'mediabunny'
import type { RecordingIndex, SegmentRow } from './recording-index.ts'

/**
 * Export: a time range of a camera's recording as one standard MP4 (progressive, metadata first),
 * remuxed from the segments without transcoding. It starts at the keyframe at or before `from`
 * (a player cannot start anywhere else) and ends before `to`. Timestamps follow the wall clock, so
 * a gap inside the range stays a gap in the file rather than silently shortening it.
 *
 * Segments being written are read only up to their last durable fragment (the index knows where
 * that ends), so an export never sees a half-written fragment.
 */
export class RangeUnavailableError extends Error {
  override name = 'RangeUnavailableError'
}

export interface ExportRequest {
  cameraId: string
  stream?: string
  fromMs: number
  toMs: number
}

export interface ExportResult {
  file: string
  bytes: number
  sha256: string
  /** Wall-clock time of the first frame (the keyframe at or before `from`). */
  startMs: number
  /** Wall-clock end of the last frame. */
  endMs: number
  frames: number
  /** AAC frames, when the recording has audio. */
  audioFrames: number
  audioCodec?: string
  codec: string
  width: number
  height: number
  segments: number
  /** Set when the range went on in another format (resolution or codec change) that one file cannot hold. */
  truncatedAtMs?: number
}

/** Largest export (media time): a day. Longer ranges are a sequence of exports. */
export const MAX_EXPORT_MS = 24 * 3600 * 1000

/** How far apart two segments may start from where the last ended and still be one timeline. */
const JOIN_TOLERANCE_MS = 500
/** Frames that would share a decode time are moved apart by this much (a millisecond). */
const MIN_FRAME_STEP_S = 0.001

function segmentSource(s: SegmentRow) {
  let handle: Awaited<ReturnType<typeof open>> | undefined
  return new CustomSource({
    getSize: () => s.bytes,
    read: async (start, end) => {
      handle ??= await open(s.path, 'r')
      const buf = Buffer.alloc(end - start)
      const { bytesRead } = await handle.read(buf, 0, buf.length, start)
      if (bytesRead !== buf.length) throw new Error(`${s.path}: shorter than the index says`)
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.length)
    },
    dispose: () => void handle?.close(),
    prefetchProfile: 'fileSystem',
  })
}

export function describeMissing(index: RecordingIndex, req: ExportRequest): string {
  const oldest = index.db
    .prepare('select min(start_ms) as m from segments where camera_id = ?')
    .get(req.cameraId) as { m: number | null }
  if (oldest.m === null) return 'this camera has no recordings on its agent'
  if (req.toMs <= oldest.m)
    return `the range is older than the oldest recording kept (${new Date(oldest.m).toISOString()}): deleted by retention or never recorded`
  return 'nothing was recorded in this range'
}

export async function exportRange(
  index: RecordingIndex,
  req: ExportRequest,
  outFile: string,
): Promise<ExportResult> {
  if (!(req.toMs > req.fromMs))
    throw new RangeUnavailableError('the range is empty: "to" must be after "from"')
  if (req.toMs - req.fromMs > MAX_EXPORT_MS) throw new RangeUnavailableError('the range is longer than a day')
  let all = index
    .segmentsBetween(req.cameraId, req.fromMs, req.toMs, req.stream ?? 'main')
    .filter((s) => s.bytes > 0 && s.frames > 0)
  // Segments start with a keyframe: a later one starting at or before `from` holds a nearer one.
  const nearest = all.findLastIndex((s) => s.start_ms <= req.fromMs)
  if (nearest > 0) all = all.slice(nearest)
  const first = all[0]
  if (!first) throw new RangeUnavailableError(describeMissing(index, req))
  const segments: SegmentRow[] = []
  let truncatedAtMs: number | undefined
  for (const s of all) {
    if (s.codec_string !== first.codec_string || s.width !== first.width || s.height !== first.height) {
      truncatedAtMs = s.start_ms
      break
    }
    segments.push(s)
  }

  const videoBudget = Math.ceil(segments.reduce((n, s) => n + s.frames, 0) * 1.1) + 200
  const spanSeconds = ((segments.at(-1)?.end_ms ?? first.end_ms) - first.start_ms) / 1000 + 60
  let output: Output | undefined
  let video: EncodedVideoPacketSource | undefined
  let audio: EncodedAudioPacketSource | undefined
  let startMs = 0
  let endMs = 0
  let lastTs = -1
  let lastDuration = 0
  let lastAudioTs = -1
  let frames = 0
  let audioFrames = 0
  const addAudio = async (wall: number, p: EncodedPacket, config?: AudioDecoderConfig) => {
    if (!audio || wall < startMs || wall >= Math.min(req.toMs, endMs)) return
    const ts = (wall - startMs) / 1000
    if (ts <= lastAudioTs) return
    lastAudioTs = ts
    const packet = new EncodedPacket(p.data, 'key', ts, p.duration)
    await audio.add(packet, audioFrames === 0 && config ? { decoderConfig: config } : undefined)
    audioFrames++
  }
  let audioConfig: AudioDecoderConfig | undefined
  let videoConfig: VideoDecoderConfig | undefined
  try {
    for (const s of segments) {
      const input = new Input({ source: segmentSource(s), formats: [MP4] })
      try {
        const track = await input.getPrimaryVideoTrack()
        if (!track) continue
        const audioTrack = await input.getPrimaryAudioTrack()
        const sink = new EncodedPacketSink(track)
        const from = output
          ? await sink.getFirstPacket()
          : ((await sink.getKeyPacket(Math.max(0, (req.fromMs - s.start_ms) / 1000))) ??
            (await sink.getFirstPacket()))
        if (!from) continue
        if (!output) {
          // The file's tracks are the first segment's: its video, and its audio if it has any.
          videoConfig = (await track.getDecoderConfig()) ?? undefined
          output = new Output({
            format: new Mp4OutputFormat({ fastStart: 'reserve' }),
            target: new FilePathTarget(outFile),
          })
          video = new EncodedVideoPacketSource(first.codec === 'h264' ? 'avc' : 'hevc')
          output.addVideoTrack(video, { maximumPacketCount: videoBudget })
          if (audioTrack) {
            audioConfig = (await audioTrack.getDecoderConfig()) ?? undefined
            if (audioConfig) {
              audio = new EncodedAudioPacketSource('aac')
              const perSecond = audioConfig.sampleRate / 1024
              output.addAudioTrack(audio, {
                maximumPacketCount: Math.ceil(spanSeconds * perSecond * 1.2) + 100,
              })
            }
          }
          await output.start()
        }
        // Audio interleaved with the video by time, so the muxer never holds much of either.
        const audioSink = audio && audioTrack ? new EncodedPacketSink(audioTrack) : undefined
        const audioStart = audioSink
          ? ((await audioSink.getPacket(from.timestamp)) ?? (await audioSink.getFirstPacket()))
          : null
        const audioPackets = audioSink && audioStart ? audioSink.packets(audioStart) : undefined
        let nextAudio = audioPackets ? await audioPackets.next() : undefined
        // A segment's start is the wall-clock time its first frame arrived, so under load two
        // segments may overlap or part by a few tens of milliseconds where the camera's timeline
        // is continuous: frames a microsecond apart were written with the same decode time
        // (players refuse them). A segment that starts within JOIN_TOLERANCE_MS of where the
        // previous one ended is joined to it; a real gap (the camera away) is kept.
        let shiftMs: number | undefined
        for await (const p of sink.packets(from)) {
          if (shiftMs === undefined) {
            const starts = s.start_ms + p.timestamp * 1000
            const expected = startMs + (lastTs + lastDuration) * 1000
            shiftMs = frames > 0 && starts < expected + JOIN_TOLERANCE_MS ? expected - starts : 0
          }
          const wall = s.start_ms + p.timestamp * 1000 + shiftMs
          if (wall >= req.toMs && frames > 0) break
          if (frames === 0) {
            if (p.type !== 'key') continue
            startMs = wall
          }
          let ts = (wall - startMs) / 1000
          if (ts <= lastTs) ts = lastTs + MIN_FRAME_STEP_S
          lastTs = ts
          lastDuration = p.duration
          endMs = Math.max(endMs, wall + p.duration * 1000)
          while (
            nextAudio &&
            !nextAudio.done &&
            s.start_ms + nextAudio.value.timestamp * 1000 + shiftMs <= wall
          ) {
            await addAudio(
              s.start_ms + nextAudio.value.timestamp * 1000 + shiftMs,
              nextAudio.value,
              audioConfig,
            )
            nextAudio = await audioPackets?.next()
          }
          const packet = new EncodedPacket(p.data, p.type, ts, p.duration)
          if (frames === 0 && videoConfig) await video?.add(packet, { decoderConfig: videoConfig })
          else await video?.add(packet)
          frames++
        }
        while (nextAudio && !nextAudio.done) {
          const wall = s.start_ms + nextAudio.value.timestamp * 1000 + (shiftMs ?? 0)
          if (wall >= Math.min(req.toMs, endMs)) break
          await addAudio(wall, nextAudio.value, audioConfig)
          nextAudio = await audioPackets?.next()
        }
        await audioPackets?.return(undefined)
      } finally {
        input.dispose()
      }
    }
    if (!output || frames === 0) throw new RangeUnavailableError(describeMissing(index, req))
    await output.finalize()
  } catch (err) {
    await output?.cancel().catch(() => {})
    await rm(outFile, { force: true })
    throw err
  }
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(outFile)) hash.update(chunk as Buffer)
  return {
    file: outFile,
    bytes: (await stat(outFile)).size,
    sha256: hash.digest('hex'),
    startMs,
    endMs,
    frames,
    audioFrames,
    ...(audioConfig ? { audioCodec: audioConfig.codec } : {}),
    codec: first.codec_string,
    width: first.width,
    height: first.height,
    segments: segments.length,
    ...(truncatedAtMs !== undefined ? { truncatedAtMs } : {}),
  }
}
