/** Pure parts of the playback timeline: zoom levels, tick marks and positions. */
export const ZOOMS = [
  { label: '24 hours', ms: 24 * 3600_000 },
  { label: '6 hours', ms: 6 * 3600_000 },
  { label: '1 hour', ms: 3600_000 },
  { label: '10 minutes', ms: 600_000 },
  { label: '1 minute', ms: 60_000 },
] as const

const STEPS = [5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000]

/** Tick times for a span: about `count` of them, on round steps. */
export function ticks(from: number, to: number, count = 6): number[] {
  const span = to - from
  const step = STEPS.find((s) => span / s <= count) ?? STEPS[STEPS.length - 1] ?? 3_600_000
  const out: number[] = []
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t)
  return out
}

/** A time's position in the view, 0..1 (clamped). */
export const fraction = (t: number, from: number, to: number): number =>
  Math.min(1, Math.max(0, (t - from) / (to - from)))

/** The view of a zoom level around a time, never reaching past now. */
export function viewAround(center: number, spanMs: number, now: number): { from: number; to: number } {
  let to = center + spanMs / 2
  if (to > now) to = now
  return { from: to - spanMs, to }
}

/** Merged [from, to] intervals (ms), sorted, for drawing. */
export function mergeRanges(ranges: { from: number; to: number }[]): { from: number; to: number }[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from)
  const out: { from: number; to: number }[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last && r.from <= last.to + 1000) last.to = Math.max(last.to, r.to)
    else out.push({ ...r })
  }
  return out
}

/** Where a seek to `t` lands: `t` itself if recorded, else the start of the next range. */
export function landing(t: number, ranges: { from: number; to: number }[]): number | undefined {
  for (const r of mergeRanges(ranges)) {
    if (t < r.from) return r.from
    if (t < r.to) return t
  }
  return undefined
}

/** Bucket sizes the activity endpoint is asked for (the hub keeps 10 s buckets). */
const BUCKETS = [10, 30, 60, 300, 900, 1800, 3600]

/** The activity bucket for a view: the finest that keeps it to about `max` bars. */
export function bucketSecondsFor(spanMs: number, max = 240): number {
  return BUCKETS.find((b) => spanMs / 1000 / b <= max) ?? BUCKETS[BUCKETS.length - 1] ?? 3600
}

/** A bucket's bar height, 0..1: the share of the bucket with motion. */
export const motionShare = (motionSeconds: number, bucketSeconds: number): number =>
  bucketSeconds > 0 ? Math.min(1, Math.max(0, motionSeconds / bucketSeconds)) : 0
