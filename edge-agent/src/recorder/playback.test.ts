import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  checkMediaSegment,
  firstDecodeTimes,
  PLAYBACK_PAGE_FILES,
  type PlaybackCursor,
  parseInit,
} from '@ts-vms/shared'
import { afterEach, describe, expect, it } from 'vitest'
import { RangeUnavailableError } from './export.ts'
import { groupFragments, PlaybackSource, PlaybackUnavailableError } from './playback.ts'
import { RecordingIndex } from './recording-index.ts'

/** Fragments of the given durations (ms), back to back from t = 1000. */
const frags = (...durations: number[]) => {
  let t = 1000
  return durations.map((d) => {
    const f = { start_ms: t, end_ms: t + d }
    t += d
    return f
  })
}

describe('groupFragments', () => {
  it('groups fragments into segments of at least the target; the last is what is left', () => {
    expect(
      groupFragments(frags(1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 500), 4000, 120),
    ).toEqual([
      [0, 4, 1000, 4000],
      [4, 4, 5000, 4000],
      [8, 2, 9000, 1500],
    ])
  })

  it('tolerates a millisecond of rounding, and fragments longer than the target stand alone', () => {
    expect(groupFragments(frags(999.6, 1000, 1000, 1000, 6000, 300), 4000, 120)).toEqual([
      [0, 4, 1000, 3999.6],
      [4, 1, 4999.6, 6000],
      [5, 1, 10_999.6, 300],
    ])
  })

  it('is stable as a file grows: only its last segment changes', () => {
    const all = frags(1000, 1000, 1000, 1000, 1000, 1000)
    const early = groupFragments(all.slice(0, 5), 4000, 120)
    const later = groupFragments(all, 4000, 120)
    expect(later[0]).toEqual(early[0])
    expect(early[1]).toEqual([4, 1, 5000, 1000])
    expect(later[1]).toEqual([4, 2, 5000, 2000])
  })

  it('caps the fragments of a segment, and skips empty runs', () => {
    expect(groupFragments(frags(10, 10, 10, 10, 10), 4000, 2)).toEqual([
      [0, 2, 1000, 20],
      [2, 2, 1020, 20],
      [4, 1, 1040, 10],
    ])
    expect(groupFragments(frags(0, 0), 4000, 120)).toEqual([])
    expect(groupFragments([], 4000, 120)).toEqual([])
  })
})

/** A synthetic recording file: ftyp + moov (one video track, 90 kHz) + one moof/mdat per fragment. */
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const box = (type: string, ...body: Buffer[]) => {
  const payload = Buffer.concat(body)
  return Buffer.concat([u32(8 + payload.length), Buffer.from(type, 'latin1'), payload])
}
const full = (type: string, ...body: Buffer[]) => box(type, Buffer.alloc(4), ...body)
const times = (created: number, field: number, rest: number) => [
  u32(created),
  u32(created),
  u32(field),
  Buffer.alloc(rest),
]

function recordingFile(created: number, fragments: number): { bytes: Buffer; ends: number[] } {
  const init = Buffer.concat([
    box('ftyp', Buffer.from('isomiso6')),
    box(
      'moov',
      full('mvhd', ...times(created, 1000, 88)),
      box(
        'trak',
        full('tkhd', ...times(created, 1, 68)),
        box('mdia', full('mdhd', ...times(created, 90_000, 8))),
      ),
    ),
  ])
  const parts = [init]
  const ends: number[] = []
  let at = init.length
  for (let i = 0; i < fragments; i++) {
    const tfdt = Buffer.alloc(8)
    tfdt.writeBigUInt64BE(BigInt(i * 90_000))
    const f = Buffer.concat([
      box(
        'moof',
        full('mfhd', u32(i + 1)),
        box('traf', full('tfhd', u32(1)), box('tfdt', Buffer.from([1, 0, 0, 0]), tfdt)),
      ),
      box('mdat', Buffer.from(`frame ${i}`)),
    ])
    parts.push(f)
    at += f.length
    ends.push(at)
  }
  return { bytes: Buffer.concat(parts), ends }
}

describe('PlaybackSource', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  /** `files` recordings of `fragments` one-second fragments each, back to back from T0. */
  function recorded(files: number, fragments: number) {
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-playback-'))
    dirs.push(dir)
    const index = new RecordingIndex(path.join(dir, 'index.db'))
    const T0 = 1_795_911_173_810.5
    index.db.transaction(() => {
      for (let n = 0; n < files; n++) {
        const file = path.join(dir, `${n}.mp4`)
        const { bytes, ends } = recordingFile(3_878_755_973 + n, fragments)
        writeFileSync(file, bytes)
        const start = T0 + n * fragments * 1000
        const id = index.openSegment({
          camera_id: 'cam',
          stream: 'main',
          path: file,
          start_ms: start,
          start_pts: 0,
          codec: 'h264',
          codec_string: 'avc1.4d401e',
          width: 640,
          height: 360,
          parameter_sets: '',
        })
        for (const [i, end] of ends.entries())
          index.addFragment(id, {
            offsetEnd: end,
            startMs: start + i * 1000,
            endMs: start + (i + 1) * 1000,
            endPts: (i + 1) * 90_000,
            frames: (i + 1) * 15,
          })
        index.closeSegment(id, bytes.length)
      }
    })()
    return { index, T0, source: new PlaybackSource(index, { maxPartFragments: 120 }) }
  }

  it('lists segments with one init key for files of one format, and cuts them on the wall clock', async () => {
    const { index, T0, source } = recorded(3, 6)
    const page = await source.list({ cameraId: 'cam', fromMs: T0 + 7000, toMs: T0 + 13_000, targetMs: 4000 })
    expect(page.next).toBeUndefined()
    // File 2 (6..12 s) has segments [0, 4) (6..10 s) and [4, 2) (10..12 s), both in the range.
    expect(page.files.map((f) => [f.file, f.parts])).toEqual([
      [
        2,
        [
          [0, 4, T0 + 6000, 4000],
          [4, 2, T0 + 10_000, 2000],
        ],
      ],
      [3, [[0, 4, T0 + 12_000, 4000]]],
    ])
    const all = await source.list({ cameraId: 'cam', fromMs: T0, toMs: T0 + 18_000, targetMs: 4000 })
    expect(all.files).toHaveLength(3)
    expect(new Set(all.files.map((f) => f.init)).size).toBe(1)
    const init = await source.initSection('cam', {
      kind: 'init',
      file: 2,
      startMs: Math.round(T0 + 6000),
      init: all.files[0]?.init as string,
    })
    expect(parseInit(init).timescales).toEqual(new Map([[1, 90_000]]))
    // The media: fragments 4 and 5 of file 2, their decode times moved onto the wall clock.
    const media = await source.mediaSegment('cam', {
      kind: 'media',
      file: 2,
      startMs: Math.round(T0 + 6000),
      first: 4,
      count: 2,
    })
    expect(checkMediaSegment(media)).toBe(2)
    const start = index.segment(2)?.start_ms as number
    expect(firstDecodeTimes(media).get(1)).toBe(BigInt(Math.round((start / 1000) * 90_000)) + 4n * 90_000n)
  })

  it('refuses what it does not hold, or holds differently', async () => {
    const { T0, source } = recorded(1, 4)
    const startMs = Math.round(T0)
    const key = (await source.list({ cameraId: 'cam', fromMs: T0, toMs: T0 + 4000, targetMs: 4000 })).files[0]
      ?.init as string
    const media = { kind: 'media' as const, file: 1, startMs, first: 0, count: 4 }
    await expect(source.mediaSegment('cam', media)).resolves.toBeInstanceOf(Uint8Array)
    await expect(source.mediaSegment('other', media)).rejects.toBeInstanceOf(PlaybackUnavailableError)
    await expect(source.mediaSegment('cam', { ...media, startMs: startMs + 1 })).rejects.toBeInstanceOf(
      PlaybackUnavailableError,
    )
    await expect(source.mediaSegment('cam', { ...media, first: 2, count: 3 })).rejects.toBeInstanceOf(
      PlaybackUnavailableError,
    )
    await expect(source.mediaSegment('cam', { ...media, file: 9 })).rejects.toBeInstanceOf(
      PlaybackUnavailableError,
    )
    await expect(
      source.initSection('cam', { kind: 'init', file: 1, startMs, init: 'f'.repeat(32) }),
    ).rejects.toBeInstanceOf(PlaybackUnavailableError)
    await expect(
      source.initSection('cam', { kind: 'init', file: 1, startMs, init: key }),
    ).resolves.toBeInstanceOf(Uint8Array)
    await expect(
      source.list({ cameraId: 'cam', fromMs: 0, toMs: 1000, targetMs: 4000 }),
    ).rejects.toBeInstanceOf(RangeUnavailableError)
  })

  it('answers a long range a page at a time, each file once', async () => {
    const { T0, source } = recorded(PLAYBACK_PAGE_FILES * 2 + 10, 1)
    const req = { cameraId: 'cam', fromMs: T0, toMs: T0 + 86_400_000, targetMs: 4000 }
    const seen: number[] = []
    let after: PlaybackCursor | undefined
    let pages = 0
    do {
      const page = await source.list(req, after)
      expect(page.files.length).toBeLessThanOrEqual(PLAYBACK_PAGE_FILES)
      seen.push(...page.files.map((f) => f.file))
      after = page.next
      pages++
    } while (after)
    expect(pages).toBe(3)
    expect(seen).toEqual(Array.from({ length: PLAYBACK_PAGE_FILES * 2 + 10 }, (_, i) => i + 1))
  })
})
