import { describe, expect, it } from 'vitest'
import {
  BoxStreamChecker,
  boxes,
  checkMediaSegment,
  Fmp4Error,
  firstDecodeTimes,
  normalizeInit,
  parseInit,
  shiftDecodeTimes,
} from './fmp4.ts'

const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}
const box = (type: string, ...body: Buffer[]) => {
  const payload = Buffer.concat(body)
  return Buffer.concat([u32(8 + payload.length), Buffer.from(type, 'latin1'), payload])
}
const full = (type: string, version: number, ...body: Buffer[]) =>
  box(type, Buffer.from([version, 0, 0, 0]), ...body)

/** mvhd/tkhd/mdhd bodies: times, then the field that matters (track id or timescale). */
const timed = (type: string, version: number, created: number, field: number, rest = 12) =>
  version === 1
    ? full(type, 1, u64(BigInt(created)), u64(BigInt(created)), u32(field), Buffer.alloc(rest))
    : full(type, 0, u32(created), u32(created), u32(field), Buffer.alloc(rest))

function init(created: number, audioTimescale = 48_000): Buffer {
  return Buffer.concat([
    box('ftyp', Buffer.from('isom'), u32(0x200), Buffer.from('isomiso6mp41')),
    box(
      'moov',
      timed('mvhd', 0, created, 1000, 88),
      box('trak', timed('tkhd', 0, created, 1, 68), box('mdia', timed('mdhd', 0, created, 90_000, 8))),
      box(
        'trak',
        timed('tkhd', 1, created, 2, 68),
        box('mdia', timed('mdhd', 1, created, audioTimescale, 12)),
      ),
      box('mvex', full('trex', 0, u32(1), Buffer.alloc(16))),
    ),
  ])
}

function fragment(video: bigint, audio: number): Buffer {
  return Buffer.concat([
    box(
      'moof',
      full('mfhd', 0, u32(1)),
      box('traf', full('tfhd', 0, u32(1)), full('tfdt', 1, u64(video))),
      box('traf', full('tfhd', 0, u32(2)), full('tfdt', 0, u32(audio))),
    ),
    box('mdat', Buffer.from('frames')),
  ])
}

describe('fmp4', () => {
  it('reads an init section: tracks and timescales, v0 and v1 boxes', () => {
    expect(parseInit(init(123)).timescales).toEqual(
      new Map([
        [1, 90_000],
        [2, 48_000],
      ]),
    )
  })

  it('normalises init sections so files of one format share one, and others do not', () => {
    const a = normalizeInit(init(1000))
    const b = normalizeInit(init(999_999))
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true)
    expect(Buffer.from(init(1000)).equals(init(999_999))).toBe(false)
    expect(Buffer.from(normalizeInit(init(1000, 16_000))).equals(Buffer.from(a))).toBe(false)
    // The input is not modified.
    const original = init(5)
    normalizeInit(original)
    expect(original.equals(init(5))).toBe(true)
  })

  it('refuses what is not an init section', () => {
    const i = init(1)
    expect(() => parseInit(i.subarray(0, i.length - 1))).toThrow(Fmp4Error)
    expect(() => parseInit(Buffer.concat([i, box('free')]))).toThrow(/ftyp \+ moov/)
    expect(() => parseInit(box('ftyp', Buffer.alloc(8)))).toThrow(Fmp4Error)
    expect(() => parseInit(fragment(0n, 0))).toThrow(Fmp4Error)
  })

  it('checks media segments: moof + mdat pairs only', () => {
    expect(checkMediaSegment(Buffer.concat([fragment(0n, 0), fragment(1n, 1)]))).toBe(2)
    expect(() => checkMediaSegment(box('mdat'))).toThrow(Fmp4Error)
    expect(() => checkMediaSegment(Buffer.concat([fragment(0n, 0), box('free')]))).toThrow(Fmp4Error)
    expect(() => checkMediaSegment(Buffer.concat([fragment(0n, 0), Buffer.from([0, 0])]))).toThrow(Fmp4Error)
    expect(() => checkMediaSegment(Buffer.alloc(0))).toThrow(Fmp4Error)
  })

  it('moves decode times by each track’s offset, in place, without changing sizes', () => {
    const seg = Buffer.concat([fragment(0n, 100), fragment(90_000n, 48_100)])
    const length = seg.length
    const base = 1_795_911_173_810n * 90n
    shiftDecodeTimes(seg, new Map([[1, base]]))
    expect(seg.length).toBe(length)
    expect(firstDecodeTimes(seg)).toEqual(
      new Map([
        [1, base],
        [2, 100n],
      ]),
    )
    expect(firstDecodeTimes(seg.subarray(boxes(seg)[2]?.start))).toEqual(
      new Map([
        [1, base + 90_000n],
        [2, 48_100n],
      ]),
    )
    shiftDecodeTimes(seg, new Map([[2, 1000n]]))
    expect(firstDecodeTimes(seg).get(2)).toBe(1100n)
    // A version-0 tfdt cannot hold a wall-clock time.
    expect(() => shiftDecodeTimes(seg, new Map([[2, 1n << 40n]]))).toThrow(/version-0/)
  })

  it('checks a stream of boxes as it arrives, however it is cut', () => {
    const seg = Buffer.concat([fragment(0n, 0), fragment(1n, 1)])
    const allowed = new Set(['moof', 'mdat'])
    for (const step of [1, 3, 7, 8, 13, seg.length]) {
      const c = new BoxStreamChecker(allowed)
      for (let i = 0; i < seg.length; i += step) c.push(seg.subarray(i, i + step))
      expect(c.finish()).toEqual(['moof', 'mdat', 'moof', 'mdat'])
    }
    // A 64-bit size.
    const large = Buffer.concat([u32(1), Buffer.from('mdat'), u64(20n), Buffer.from('abcd')])
    const c = new BoxStreamChecker(allowed)
    for (const b of large) c.push(Buffer.from([b]))
    expect(c.finish()).toEqual(['mdat'])
    expect(() => new BoxStreamChecker(allowed).push(init(1))).toThrow(/unexpected box ftyp/)
    const cut = new BoxStreamChecker(allowed)
    cut.push(seg.subarray(0, seg.length - 2))
    expect(() => cut.finish()).toThrow(/inside a box/)
    expect(() =>
      new BoxStreamChecker(allowed).push(Buffer.from([0, 0, 0, 4, 0x6d, 0x64, 0x61, 0x74])),
    ).toThrow(Fmp4Error)
  })

  it('throws only Fmp4Error on garbage and mutated input', () => {
    const samples = [init(7), Buffer.concat([fragment(5n, 5), fragment(6n, 6)])]
    let seed = 42
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff
      return seed / 0x7fffffff
    }
    for (let n = 0; n < 3000; n++) {
      const base = samples[n % 2] as Buffer
      const buf =
        n % 5 === 0
          ? Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256)))
          : Buffer.from(base)
      for (let k = 0; k < 3; k++) buf[Math.floor(random() * buf.length)] = Math.floor(random() * 256)
      for (const f of [
        () => parseInit(buf),
        () => normalizeInit(buf),
        () => checkMediaSegment(buf),
        () => shiftDecodeTimes(Buffer.from(buf), new Map([[1, 10n]])),
        () => new BoxStreamChecker(new Set(['moof', 'mdat'])).push(buf),
      ]) {
        try {
          f()
        } catch (err) {
          expect(err).toBeInstanceOf(Fmp4Error)
        }
      }
    }
  })
})
