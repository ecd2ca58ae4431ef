import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadClip } from '../../../../scripts/camera-sim/clip.ts'
import { parseH264Sps, parseH265Sps, videoFormat } from './sps.ts'

const clips = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../scripts/camera-sim/clips',
)
const b64 = (s: string) => Buffer.from(s, 'base64')

describe('SPS', () => {
  it('reads the picture size and codec string of real cameras’ H.264', () => {
    // From the Hikvision, Reolink and Dahua captures' sprop-parameter-sets.
    expect(parseH264Sps(b64('Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA=='))).toEqual({
      codec: 'h264',
      width: 1920,
      height: 1080,
      codecString: 'avc1.4d0029',
    })
    expect(parseH264Sps(b64('Z2QAM6zoAoALWQ=='))).toMatchObject({
      width: 2560,
      height: 1440,
      codecString: 'avc1.640033',
    })
    expect(parseH264Sps(b64('Z2QAHqwsaoLA9puCgIKgAAADACAAAAMD0IAA'))).toMatchObject({
      width: 704,
      height: 480,
    })
    expect(parseH264Sps(Buffer.from([0x68, 1, 2, 3]))).toBeUndefined()
    expect(parseH264Sps(Buffer.from([0x67, 0x64, 0, 0x1e]))).toBeUndefined() // truncated
  })

  it('reads the simulator clips, H.264 and H.265', () => {
    const h264 = loadClip(path.join(clips, 'sim-h264.h264'), 'h264', 15)
    expect(videoFormat('h264', h264.parameterSets)).toMatchObject({
      width: 640,
      height: 360,
      codecString: expect.stringMatching(/^avc1\.4d/),
    })
    const h265 = loadClip(path.join(clips, 'sim-h265.h265'), 'h265', 15)
    expect(videoFormat('h265', h265.parameterSets)).toMatchObject({
      width: 640,
      height: 360,
      codecString: expect.stringMatching(/^hvc1\.1\.6\.L\d+/),
    })
    expect(parseH265Sps(Buffer.from([0x40, 1, 2, 3]))).toBeUndefined()
  })
})
