import { describe, expect, it } from 'vitest'
import type { Box } from '../types.ts'
import { type Candidate, iou, nmsByClass } from './nms.ts'

const box = (x1: number, y1: number, x2: number, y2: number): Box => ({ x1, y1, x2, y2 })
const candidate = (b: Box, score: number, classId: number): Candidate => ({ box: b, score, classId })

describe('iou', () => {
  it('is 1 for the same box, 0 for disjoint or touching boxes', () => {
    expect(iou(box(0, 0, 10, 10), box(0, 0, 10, 10))).toBe(1)
    expect(iou(box(0, 0, 10, 10), box(20, 20, 30, 30))).toBe(0)
    expect(iou(box(0, 0, 10, 10), box(10, 0, 20, 10))).toBe(0)
  })

  it('is intersection over union', () => {
    // 5x10 overlap = 50; union 100 + 100 - 50 = 150.
    expect(iou(box(0, 0, 10, 10), box(5, 0, 15, 10))).toBeCloseTo(1 / 3, 12)
    // A box inside another: 25 / 100.
    expect(iou(box(0, 0, 10, 10), box(2, 2, 7, 7))).toBeCloseTo(0.25, 12)
  })

  it('is 0 for an empty box', () => {
    expect(iou(box(5, 5, 5, 5), box(0, 0, 10, 10))).toBe(0)
  })
})

describe('nmsByClass', () => {
  it('keeps the best of overlapping boxes of one class, best first', () => {
    const kept = nmsByClass([
      candidate(box(1, 0, 11, 10), 0.8, 0), // IoU with the best 9/11 = 0.82: a duplicate
      candidate(box(0, 0, 10, 10), 0.9, 0),
      candidate(box(50, 50, 60, 60), 0.4, 0), // elsewhere
    ])
    expect(kept.map((c) => c.score)).toEqual([0.9, 0.4])
  })

  it('keeps an overlapping box of another class', () => {
    const kept = nmsByClass([candidate(box(0, 0, 10, 10), 0.9, 0), candidate(box(1, 0, 11, 10), 0.7, 1)])
    expect(kept.map((c) => c.classId)).toEqual([0, 1])
  })

  it('suppresses only above the threshold', () => {
    // IoU exactly 1/3.
    const pair = [candidate(box(0, 0, 10, 10), 0.9, 0), candidate(box(5, 0, 15, 10), 0.8, 0)]
    expect(nmsByClass(pair)).toHaveLength(2) // 0.45 by default
    expect(nmsByClass(pair, 0.3)).toHaveLength(1)
  })

  it('compares with kept boxes only: a box suppressed does not suppress others', () => {
    // B overlaps A and C; A suppresses B; C overlaps A too little, so it stays even though B
    // (gone) would have suppressed it.
    const a = candidate(box(0, 0, 10, 10), 0.9, 0)
    const b = candidate(box(3, 0, 13, 10), 0.8, 0)
    const c = candidate(box(6, 0, 16, 10), 0.7, 0)
    expect(iou(a.box, b.box)).toBeGreaterThan(0.45)
    expect(iou(b.box, c.box)).toBeGreaterThan(0.45)
    expect(iou(a.box, c.box)).toBeLessThan(0.45)
    expect(nmsByClass([c, b, a])).toEqual([a, c])
  })

  it('leaves its input alone', () => {
    const input = [candidate(box(0, 0, 1, 1), 0.1, 0), candidate(box(0, 0, 1, 1), 0.2, 0)]
    const copy = structuredClone(input)
    nmsByClass(input)
    expect(input).toEqual(copy)
  })
})
