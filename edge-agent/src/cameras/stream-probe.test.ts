import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadClip } from '../../../scripts/camera-sim/clip.ts'
import { splitAnnexB } from '../media/codec/access-unit.ts'
import { bitrateKbps, decodeStill, fpsFromTimestamps, keyframeAnnexB, profileName } from './stream-probe.ts'

const clips = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/camera-sim/clips')
const FFMPEG = '/usr/bin/ffmpeg'

describe('stream probe: pure parts', () => {
  it('measures the frame rate from 90 kHz timestamps, in any order', () => {
    const at = (fps: number, n: number) => Array.from({ length: n }, (_, i) => Math.round((i * 90_000) / fps))
    expect(fpsFromTimestamps(at(25, 51))).toBe(25)
    expect(fpsFromTimestamps(at(15, 31))).toBe(15)
    expect(fpsFromTimestamps(at(30000 / 1001, 61))).toBeCloseTo(29.97, 2)
    // B-frames: presentation order differs from arrival order.
    const shuffled = at(25, 51)
    ;[shuffled[3], shuffled[4]] = [shuffled[4] as number, shuffled[3] as number]
    expect(fpsFromTimestamps(shuffled)).toBe(25)
    // Unwrapped timestamps far from zero.
    expect(fpsFromTimestamps(at(10, 21).map((t) => t + 2 ** 40))).toBe(10)
    expect(fpsFromTimestamps([])).toBeNull()
    expect(fpsFromTimestamps([0, 3600])).toBeNull()
    expect(fpsFromTimestamps([0, 0, 0])).toBeNull() // no time passed
    expect(fpsFromTimestamps([0, 900, 1800])).toBeNull() // 20 ms is too short to say
  })

  it('measures the bitrate over the frames that span the time', () => {
    expect(bitrateKbps([1000, 1000, 1000, 1000, 1000], 0.5)).toBe(64)
    expect(bitrateKbps([1000], 1)).toBeNull()
    expect(bitrateKbps([1000, 1000, 1000], 0)).toBeNull()
  })

  it('names the profile of H.264 and H.265 parameter sets', () => {
    const h264 = loadClip(path.join(clips, 'sim-h264.h264'), 'h264', 15)
    const sps264 = h264.parameterSets.find((n) => ((n[0] ?? 0) & 0x1f) === 7) as Buffer
    expect(profileName('h264', sps264)).toBe('Main')
    expect(profileName('h264', Buffer.from([0x67, 66, 0xc0, 30]))).toBe('Constrained Baseline')
    expect(profileName('h264', Buffer.from([0x67, 100, 0, 40]))).toBe('High')
    expect(profileName('h264', Buffer.from([0x68, 100, 0, 40]))).toBeUndefined()
    const h265 = loadClip(path.join(clips, 'sim-h265.h265'), 'h265', 15)
    const sps265 = h265.parameterSets.find((n) => (((n[0] ?? 0) >> 1) & 0x3f) === 33) as Buffer
    expect(profileName('h265', sps265)).toBe('Main')
    expect(profileName('h264', Buffer.from([0x67]))).toBeUndefined()
  })

  it('leads a keyframe without parameter sets with the stream’s, in VPS/SPS/PPS order', () => {
    const sps = Buffer.from([0x67, 1])
    const pps = Buffer.from([0x68, 2])
    const idr = Buffer.from([0x65, 3])
    expect(splitAnnexB(keyframeAnnexB('h264', [pps, sps], [idr]))).toEqual([sps, pps, idr])
    // A keyframe that carries its own is left as it is.
    expect(splitAnnexB(keyframeAnnexB('h264', [Buffer.from([0x67, 9])], [sps, pps, idr]))).toEqual([
      sps,
      pps,
      idr,
    ])
  })
})

describe.skipIf(!existsSync(FFMPEG))('stream probe: still frame (ffmpeg)', () => {
  for (const codec of ['h264', 'h265'] as const) {
    it(`decodes a ${codec} keyframe to a JPEG at most 640 pixels wide`, async () => {
      const clip = loadClip(path.join(clips, `sim-${codec}.${codec}`), codec, 15)
      const key = clip.frames.find((f) => f.keyframe)?.nalus ?? []
      // As a camera sends it over RTP: parameter sets out of band, the keyframe without them.
      const bare = key.filter((n) => !clip.parameterSets.includes(n))
      const out = await decodeStill(FFMPEG, codec, keyframeAnnexB(codec, clip.parameterSets, bare), 10_000)
      if (!('jpeg' in out)) throw new Error(out.error)
      expect(out.jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
      expect(out.jpeg.length).toBeLessThan(150_000)
    })
  }

  it('says why when the input does not decode, and never hangs', async () => {
    const out = await decodeStill(FFMPEG, 'h264', Buffer.from([0, 0, 0, 1, 0x65, 1, 2, 3]), 10_000)
    expect(out).toMatchObject({ error: expect.stringMatching(/^ffmpeg could not decode the keyframe/) })
  })
})
