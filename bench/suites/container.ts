import { cpus } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  BufferTarget,
  EncodedPacket,
  EncodedVideoPacketSource,
  MkvOutputFormat,
  Mp4OutputFormat,
  Output,
} from 'mediabunny'
import { toAnnexB } from '../../edge-agent/src/media/codec/access-unit.ts'
import { videoFormat } from '../../edge-agent/src/media/codec/sps.ts'
import { loadClip } from '../../scripts/camera-sim/clip.ts'
import type { BenchResult } from '../run.ts'

/**
 * The recorder's container choice, measured: one minute of the simulator's H.264 written as
 * append-only fragmented MP4 (1 s fragments, what the recorder writes) and as append-only Matroska
 * (1 s clusters). Prints write throughput and container overhead over the raw elementary stream.
 */
const clips = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/camera-sim/clips')

async function write(kind: 'fmp4' | 'mkv', frames: ReturnType<typeof loadClip>['frames'], ps: Buffer[]) {
  const fmt = videoFormat('h264', ps)
  if (!fmt) throw new Error('no SPS')
  const target = new BufferTarget()
  const output = new Output({
    format:
      kind === 'fmp4'
        ? new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: 1 })
        : new MkvOutputFormat({ appendOnly: true, minimumClusterDuration: 1 }),
    target,
  })
  const source = new EncodedVideoPacketSource('avc')
  output.addVideoTrack(source)
  await output.start()
  let first = true
  for (let loop = 0, i = 0; loop < 6; loop++) {
    for (const f of frames) {
      const packet = new EncodedPacket(toAnnexB(f.nalus), f.keyframe ? 'key' : 'delta', i / 15, 1 / 15)
      await source.add(
        packet,
        first
          ? { decoderConfig: { codec: fmt.codecString, codedWidth: fmt.width, codedHeight: fmt.height } }
          : undefined,
      )
      first = false
      i++
    }
  }
  await output.finalize()
  return (target.buffer as ArrayBuffer).byteLength
}

export async function benchContainer(): Promise<BenchResult[]> {
  const clip = loadClip(path.join(clips, 'sim-h264.h264'), 'h264', 15)
  const raw = clip.frames.reduce((n, f) => n + toAnnexB(f.nalus).length, 0) * 6
  const results: BenchResult[] = []
  const sizes: Record<string, number> = {}
  const rates: Record<string, number> = {}
  for (const kind of ['fmp4', 'mkv'] as const) {
    await write(kind, clip.frames, clip.parameterSets) // warm-up
    const started = performance.now()
    const runs = 5
    for (let r = 0; r < runs; r++) sizes[kind] = await write(kind, clip.frames, clip.parameterSets)
    rates[kind] = (runs * 60) / ((performance.now() - started) / 1000) // stream-seconds written per second
  }
  results.push({
    name: 'container',
    subject: { label: 'fragmented MP4 (stream-seconds/s)', opsPerSec: rates.fmp4 ?? 0 },
    reference: { label: 'append-only Matroska (stream-seconds/s)', opsPerSec: rates.mkv ?? 0 },
    ratio: (rates.mkv ?? 0) / (rates.fmp4 ?? 1),
    notes: `overhead over the elementary stream: fMP4 ${(((sizes.fmp4 ?? 0) / raw - 1) * 100).toFixed(2)} %, MKV ${(((sizes.mkv ?? 0) / raw - 1) * 100).toFixed(2)} %; ${cpus().length} cores`,
  })
  return results
}
