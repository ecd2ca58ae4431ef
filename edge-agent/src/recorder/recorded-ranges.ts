import type { GapRow, SegmentRow } from './recording-index.ts'

/**
 * What a camera has on disk over a time window, as an operator reads it: continuous recorded
 * ranges (consecutive segments merged) and the gaps between and inside them, each with a reason.
 * Pure: the index rows in, the timeline out.
 */
export interface RecordedRange {
  stream: string
  fromMs: number
  toMs: number
  codec: string
  width: number
  height: number
  bytes: number
  segments: number
  /** The range's last segment is still being written. */
  open: boolean
}

export interface RecordedGap {
  stream: string
  fromMs: number
  /** null: the gap is still open (the camera is not recording now). */
  toMs: number | null
  reason: string
}

/** Segments closer than this are one range: a segment boundary leaves no hole, jitter aside. */
export const MERGE_TOLERANCE_MS = 1500

export function recordedRanges(
  segments: readonly SegmentRow[],
  gaps: readonly GapRow[],
  window: { fromMs: number; toMs: number },
): { ranges: RecordedRange[]; gaps: RecordedGap[] } {
  const ranges: RecordedRange[] = []
  const byStream = new Map<string, SegmentRow[]>()
  for (const s of [...segments].sort((a, b) => a.start_ms - b.start_ms)) {
    const list = byStream.get(s.stream) ?? []
    list.push(s)
    byStream.set(s.stream, list)
  }
  const holes: RecordedGap[] = []
  for (const [stream, list] of byStream) {
    let current: RecordedRange | undefined
    for (const s of list) {
      const sameFormat =
        current &&
        current.codec === s.codec_string &&
        current.width === s.width &&
        current.height === s.height
      if (current && sameFormat && s.start_ms - current.toMs <= MERGE_TOLERANCE_MS) {
        current.toMs = Math.max(current.toMs, s.end_ms)
        current.bytes += s.bytes
        current.segments++
        current.open ||= s.state === 'open'
        continue
      }
      if (current) {
        ranges.push(current)
        if (s.start_ms - current.toMs > MERGE_TOLERANCE_MS)
          holes.push({ stream, fromMs: current.toMs, toMs: s.start_ms, reason: 'not recorded' })
      }
      current = {
        stream,
        fromMs: s.start_ms,
        toMs: s.end_ms,
        codec: s.codec_string,
        width: s.width,
        height: s.height,
        bytes: s.bytes,
        segments: 1,
        open: s.state === 'open',
      }
    }
    if (current) ranges.push(current)
  }
  // Recorded gaps carry the real reason (camera dropped, stalled, agent stopped); they replace the
  // anonymous holes they cover.
  const known: RecordedGap[] = gaps.map((g) => ({
    stream: g.stream,
    fromMs: g.from_ms,
    toMs: g.to_ms,
    reason: g.reason,
  }))
  const covered = (h: RecordedGap) =>
    known.some(
      (g) =>
        g.stream === h.stream &&
        g.fromMs <= h.fromMs + MERGE_TOLERANCE_MS &&
        (g.toMs === null || g.toMs >= (h.toMs ?? Number.POSITIVE_INFINITY) - MERGE_TOLERANCE_MS),
    )
  const all = [...known, ...holes.filter((h) => !covered(h))]
    .filter((g) => (g.toMs ?? Number.POSITIVE_INFINITY) > window.fromMs && g.fromMs < window.toMs)
    .sort((a, b) => a.fromMs - b.fromMs)
  ranges.sort((a, b) => a.fromMs - b.fromMs)
  return { ranges, gaps: all }
}
