import { describe, expect, it } from 'vitest'
import { clipSeconds, ffmpegArgs, gopFrames } from './gop-clip.ts'

describe('simulator GOP clips', () => {
  it('asks ffmpeg for a keyframe every GOP, and only then', () => {
    const args = ffmpegArgs({ codec: 'h264', sub: false, fps: 15, gopSeconds: 4 }, '/tmp/x.h264')
    const argAfter = (flag: string) => args[args.indexOf(flag) + 1]
    expect(argAfter('-g')).toBe('60')
    expect(argAfter('-keyint_min')).toBe('60')
    expect(argAfter('-sc_threshold')).toBe('0')
    expect(argAfter('-bf')).toBe('0')
    expect(argAfter('-x264-params')).toBe('aud=1')
    expect(argAfter('-t')).toBe('12')
    expect(args.at(-1)).toBe('/tmp/x.h264')
    const h265 = ffmpegArgs({ codec: 'h265', sub: true, fps: 25, gopSeconds: 2 }, '/tmp/y.h265')
    expect(h265.join(' ')).toContain('keyint=50:min-keyint=50:scenecut=0')
    expect(h265.join(' ')).toContain('testsrc2=size=320x180:rate=25')
  })

  it('lasts whole GOPs, at least 10 s', () => {
    expect(clipSeconds(1)).toBe(10)
    expect(clipSeconds(2)).toBe(10)
    expect(clipSeconds(4)).toBe(12)
    expect(clipSeconds(10)).toBe(10)
    expect(clipSeconds(15)).toBe(15)
  })

  it('refuses a GOP that is not a whole number of frames', () => {
    expect(gopFrames(15, 10)).toBe(150)
    expect(() => gopFrames(15, 0.1)).toThrow(/whole number of frames/)
    expect(() => gopFrames(15, 0)).toThrow()
    expect(() => gopFrames(15, 120)).toThrow()
  })
})
