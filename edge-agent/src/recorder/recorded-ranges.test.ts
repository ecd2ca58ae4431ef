import { describe, expect, it } from 'vitest'
import { recordedRanges } from './recorded-ranges.ts'
import type { GapRow, SegmentRow } from './recording-index.ts'

let nextId = 1
const seg = (start: number, end: number, extra: Partial<SegmentRow> = {}): SegmentRow => ({
  id: nextId++,
  camera_id: 'c',
  stream: 'main',
  path: `/x/${start}.mp4`,
  start_ms: start,
  end_ms: end,
  start_pts: 0,
  end_pts: 0,
  bytes: 100,
  codec: 'h264',
  codec_string: 'avc1.4d401e',
  width: 640,
  height: 360,
  parameter_sets: '',
  state: 'closed',
  frames: 10,
  recorded_ms: end,
  ...extra,
})

describe('recordedRanges', () => {
  it('merges back-to-back segments and reports holes between them', () => {
    const r = recordedRanges([seg(0, 60_000), seg(60_010, 120_000), seg(200_000, 260_000)], [], {
      fromMs: 0,
      toMs: 300_000,
    })
    expect(r.ranges).toHaveLength(2)
    expect(r.ranges[0]).toMatchObject({ fromMs: 0, toMs: 120_000, segments: 2, bytes: 200 })
    expect(r.gaps).toEqual([{ stream: 'main', fromMs: 120_000, toMs: 200_000, reason: 'not recorded' }])
  })

  it('prefers the recorded reason of a gap, keeps open gaps, and splits on a format change', () => {
    const gaps: GapRow[] = [
      { camera_id: 'c', stream: 'main', from_ms: 120_000, to_ms: 200_000, reason: 'connection closed' },
      { camera_id: 'c', stream: 'main', from_ms: 300_000, to_ms: null, reason: 'stalled' },
    ]
    const r = recordedRanges(
      [
        seg(0, 120_000),
        seg(200_000, 250_000),
        seg(250_000, 300_000, { width: 1920, height: 1080, codec_string: 'avc1.640028', state: 'open' }),
      ],
      gaps,
      { fromMs: 0, toMs: 400_000 },
    )
    expect(r.ranges.map((x) => [x.fromMs, x.toMs, x.width, x.open])).toEqual([
      [0, 120_000, 640, false],
      [200_000, 250_000, 640, false],
      [250_000, 300_000, 1920, true],
    ])
    expect(r.gaps.map((g) => g.reason)).toEqual(['connection closed', 'stalled'])
  })

  it('leaves out gaps outside the window', () => {
    const gaps: GapRow[] = [{ camera_id: 'c', stream: 'main', from_ms: 10, to_ms: 20, reason: 'x' }]
    expect(recordedRanges([], gaps, { fromMs: 100, toMs: 200 }).gaps).toEqual([])
  })
})
