import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { loadClip } from '../../../scripts/camera-sim/clip.ts'
import { clipAccessUnit } from '../../test/helpers/clip-frames.ts'
import type { AccessUnit, AudioFormat, AudioFrame } from '../media/codec/access-unit.ts'
import { videoFormat } from '../media/codec/sps.ts'
import { type DurableFragment, SegmentWriter } from './segment-writer.ts'

const clips = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/camera-sim/clips')
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** The AAC frames of an ADTS file, without their headers. */
function adtsFrames(file: string): Buffer[] {
  const buf = readFileSync(file)
  const out: Buffer[] = []
  let i = 0
  while (i + 7 <= buf.length && buf[i] === 0xff && ((buf[i + 1] ?? 0) & 0xf0) === 0xf0) {
    const header = (buf[i + 1] ?? 0) & 1 ? 7 : 9
    const length = (((buf[i + 3] ?? 0) & 3) << 11) | ((buf[i + 4] ?? 0) << 3) | ((buf[i + 5] ?? 0) >> 5)
    out.push(buf.subarray(i + header, i + length))
    i += length
  }
  return out
}

const AUDIO: AudioFormat = {
  codec: 'aac',
  codecString: 'mp4a.40.2',
  sampleRate: 16000,
  channels: 1,
  frameLength: 1024,
  config: Buffer.from([0x14, 0x08]),
}

/** Ten seconds of the simulator's video at 15 fps, with AAC frames for the first `audioSeconds`. */
async function write(audioSeconds: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-writer-'))
  dirs.push(dir)
  const clip = loadClip(path.join(clips, 'sim-h264.h264'), 'h264', 15)
  const aac = adtsFrames(path.join(clips, 'sim-aac.adts'))
  const first = clip.frames[0] as (typeof clip.frames)[number]
  const format = videoFormat('h264', first.nalus)
  if (!format) throw new Error('no SPS')
  const t0 = 1_800_000_000_000
  const au = (i: number): AccessUnit => clipAccessUnit(clip, i, t0)
  const durable: { f: DurableFragment; afterFrame: number }[] = []
  let frameNo = 0
  const writer = new SegmentWriter(
    path.join(dir, 's.mp4'),
    format,
    au(0),
    (f) => durable.push({ f, afterFrame: frameNo }),
    AUDIO,
  )
  await writer.start()
  let a = 0
  for (frameNo = 0; frameNo < 150; frameNo++) {
    const v = au(frameNo)
    while (a * 64 < Math.min(audioSeconds * 1000, (frameNo * 1000) / 15)) {
      const frame: AudioFrame = {
        codec: 'aac',
        timestamp: a * 1024,
        wallMs: t0 + a * 64,
        data: aac[a % aac.length] as Buffer,
      }
      await writer.writeAudio(frame)
      a++
    }
    await writer.write(v)
  }
  const end = await writer.close()
  return { writer, durable, end, file: path.join(dir, 's.mp4') }
}

describe('SegmentWriter with audio', () => {
  it('interleaves AAC with the video, fragment by fragment', async () => {
    const { writer, durable, file } = await write(10)
    expect(writer.audioFrames).toBeGreaterThan(140)
    if (existsSync('/usr/bin/ffprobe')) {
      const streams = execFileSync(
        '/usr/bin/ffprobe',
        [
          '-v',
          'error',
          '-count_packets',
          '-show_entries',
          'stream=codec_name,sample_rate,nb_read_packets',
          '-of',
          'json',
          file,
        ],
        { encoding: 'utf8' },
      )
      expect(JSON.parse(streams).streams).toEqual([
        { codec_name: 'h264', nb_read_packets: '150' },
        { codec_name: 'aac', sample_rate: '16000', nb_read_packets: String(writer.audioFrames) },
      ])
      // Both decode without a complaint.
      const decode = spawnSync('/usr/bin/ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], {
        encoding: 'utf8',
      })
      expect(decode.status).toBe(0)
      expect(decode.stderr).toBe('')
    }
    // Fragments become durable while writing, about one a second, not all at the end.
    expect(durable.filter((d) => d.afterFrame < 150).length).toBeGreaterThanOrEqual(7)
    for (const d of durable) expect(d.f.endMs).toBeGreaterThan(d.f.startMs)
  })

  it('gives up audio that stops, so the video stays durable every second', async () => {
    const { writer, durable } = await write(2)
    expect(writer.audioFrames).toBeGreaterThan(25)
    expect(durable.filter((d) => d.afterFrame < 150).length).toBeGreaterThanOrEqual(7)
    // The index's fragment ends follow keyframes, a second apart.
    const ends = durable.map((d) => Math.round(d.f.endMs - (durable[0]?.f.startMs ?? 0)))
    expect(ends.slice(0, 5)).toEqual([1000, 2000, 3000, 4000, 5000])
  })

  it('gives up audio that never comes', async () => {
    const { writer, durable } = await write(0)
    expect(writer.audioFrames).toBe(0)
    expect(durable.filter((d) => d.afterFrame < 150).length).toBeGreaterThanOrEqual(7)
  })
})
