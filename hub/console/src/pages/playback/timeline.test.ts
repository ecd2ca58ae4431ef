import { describe, expect, it } from 'vitest'
import {
  bucketSecondsFor,
  fraction,
  landing,
  mergeRanges,
  motionShare,
  ticks,
  viewAround,
} from './timeline.ts'

describe('playback timeline', () => {
  it('puts ticks on round steps across the view', () => {
    const from = Date.UTC(2026, 0, 1, 10, 3)
    const t = ticks(from, from + 3600_000)
    expect(t.length).toBeGreaterThanOrEqual(2)
    expect(t.length).toBeLessThanOrEqual(7)
    for (const x of t) expect(x % 600_000).toBe(0)
  })
  it('clamps positions and keeps the view out of the future', () => {
    expect(fraction(5, 10, 20)).toBe(0)
    expect(fraction(15, 10, 20)).toBe(0.5)
    expect(viewAround(1000, 200, 1050)).toEqual({ from: 850, to: 1050 })
  })
  it('lands a seek into a gap on the next recorded range', () => {
    const ranges = [
      { from: 100_000, to: 160_000 },
      { from: 159_500, to: 200_000 },
      { from: 300_000, to: 360_000 },
    ]
    expect(mergeRanges(ranges)).toEqual([
      { from: 100_000, to: 200_000 },
      { from: 300_000, to: 360_000 },
    ])
    expect(landing(150_000, ranges)).toBe(150_000)
    expect(landing(250_000, ranges)).toBe(300_000)
    expect(landing(400_000, ranges)).toBeUndefined()
  })
  it('picks activity buckets that keep a view to a few hundred bars', () => {
    expect(bucketSecondsFor(60_000)).toBe(10)
    expect(bucketSecondsFor(600_000)).toBe(10)
    expect(bucketSecondsFor(3600_000)).toBe(30)
    expect(bucketSecondsFor(6 * 3600_000)).toBe(300)
    expect(bucketSecondsFor(24 * 3600_000)).toBe(900)
    expect(motionShare(30, 60)).toBe(0.5)
    expect(motionShare(90, 60)).toBe(1)
    expect(motionShare(5, 0)).toBe(0)
  })
})
