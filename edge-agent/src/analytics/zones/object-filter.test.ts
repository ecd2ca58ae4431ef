import { describe, expect, it } from 'vitest'
import type { Box, Detection, Polygon } from '../types.ts'
import { medianScore, ObjectFilter, type ObjectFilterOptions } from './object-filter.ts'

// A square frame keeps the arithmetic readable: 1 px = 0.001 of a side, 1 px² = 1e-6 of the area.
const W = 1000
const H = 1000

function detection(label: string, score: number, box: Box): Detection {
  return { label, score, box, classId: 0 }
}

/** A 40×150 px person whose feet (box bottom-centre) are at relative (x, y). */
function personAt(x: number, y: number, score = 0.9): Detection {
  return detection('person', score, { x1: x * W - 20, y1: y * H - 150, x2: x * W + 20, y2: y * H })
}

function filter(options: Partial<ObjectFilterOptions> = {}): ObjectFilter {
  return new ObjectFilter({ width: W, height: H, objects: ['person', 'car'], ...options })
}

describe('ObjectFilter.keepDetection', () => {
  it('drops labels the camera does not track', () => {
    const f = filter({ objects: ['person'] })
    expect(f.keepDetection(personAt(0.5, 0.5))).toBe(true)
    expect(f.keepDetection({ ...personAt(0.5, 0.5), label: 'dog' })).toBe(false)
    expect(f.keepDetection({ ...personAt(0.5, 0.5), label: 'car' })).toBe(false)
  })

  it('drops a detection below minScore (default 0.5) and keeps one at it', () => {
    const f = filter()
    expect(f.keepDetection(personAt(0.5, 0.5, 0.49))).toBe(false)
    expect(f.keepDetection(personAt(0.5, 0.5, 0.5))).toBe(true)
    expect(filter({ minScore: 0.8 }).keepDetection(personAt(0.5, 0.5, 0.79))).toBe(false)
  })

  it('drops hostile scores and boxes', () => {
    const f = filter({ minScore: 0 })
    for (const score of [Number.NaN, -0.1, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 1.5]) {
      expect(f.keepDetection(personAt(0.5, 0.5, score)), `score ${score}`).toBe(false)
    }
    const boxes: Box[] = [
      { x1: Number.NaN, y1: 100, x2: 200, y2: 300 },
      { x1: 100, y1: 100, x2: 200, y2: Number.NaN },
      { x1: 200, y1: 100, x2: 100, y2: 300 }, // inverted: a negative width times a negative height is not an area
      { x1: 200, y1: 300, x2: 100, y2: 100 },
      { x1: 100, y1: 100, x2: 100, y2: 300 }, // empty
    ]
    for (const box of boxes) {
      expect(f.keepDetection(detection('person', 0.9, box)), JSON.stringify(box)).toBe(false)
    }
  })

  it('applies minArea and maxArea as fractions of the frame area', () => {
    const f = filter({ minArea: 0.01, maxArea: 0.25 }) // 10 000 px² .. 250 000 px²
    const box = (w: number, h: number) => detection('car', 0.9, { x1: 0, y1: 0, x2: w, y2: h })
    expect(f.keepDetection(box(99, 100))).toBe(false)
    expect(f.keepDetection(box(100, 100))).toBe(true)
    expect(f.keepDetection(box(500, 500))).toBe(true)
    expect(f.keepDetection(box(501, 500))).toBe(false)
    // No maxArea: even a box filling the frame counts.
    expect(filter({ minArea: 0.01 }).keepDetection(box(W, H))).toBe(true)
  })

  describe('object masks', () => {
    // A row of parked cars in the lower middle of the frame, where people are never real.
    const carRow: Polygon = [
      [0.3, 0.7],
      [0.7, 0.7],
      [0.7, 0.9],
      [0.3, 0.9],
    ]

    it('drops a detection whose feet are in the mask even when most of its box is outside', () => {
      // 650 px tall, only its bottom 50 px inside the mask, but it stands at (0.5, 0.75).
      const tall = detection('person', 0.9, { x1: 450, y1: 100, x2: 550, y2: 750 })
      expect(filter({ objectMasks: [carRow] }).keepDetection(tall)).toBe(false)
    })

    it('keeps a detection whose box overlaps the mask but whose feet are outside it', () => {
      // Three quarters of this box covers the mask, but it stands at (0.5, 0.95), in front of it.
      const inFront = detection('person', 0.9, { x1: 450, y1: 750, x2: 550, y2: 950 })
      expect(filter({ objectMasks: [carRow] }).keepDetection(inFront)).toBe(true)
    })

    it('drops a detection in any of several masks', () => {
      const corner: Polygon = [
        [0, 0],
        [0.2, 0],
        [0.2, 0.2],
      ]
      const f = filter({ objectMasks: [corner, carRow] })
      expect(f.keepDetection(personAt(0.18, 0.05))).toBe(false)
      expect(f.keepDetection(personAt(0.5, 0.8))).toBe(false)
      expect(f.keepDetection(personAt(0.5, 0.5))).toBe(true)
    })

    it('masks a person cut off by the bottom of the frame with a mask drawn to the frame edge', () => {
      const bottomStrip: Polygon = [
        [0, 0.8],
        [1, 0.8],
        [1, 1],
        [0, 1],
      ]
      expect(filter({ objectMasks: [bottomStrip] }).keepDetection(personAt(0.5, 1))).toBe(false)
    })
  })

  it('rejects configurations that would let everything or nothing through', () => {
    const bowTie: Polygon = [
      [0, 0],
      [1, 1],
      [1, 0],
      [0, 1],
    ]
    expect(() => filter({ width: 0 })).toThrow(RangeError)
    expect(() => filter({ height: Number.NaN })).toThrow(RangeError)
    expect(() => filter({ minScore: 1.5 })).toThrow(RangeError)
    expect(() => filter({ threshold: Number.NaN })).toThrow(RangeError)
    expect(() => filter({ minArea: -0.1 })).toThrow(RangeError)
    expect(() => filter({ minArea: 0.2, maxArea: 0.1 })).toThrow(RangeError)
    expect(() => filter({ maxArea: 1.5 })).toThrow(RangeError)
    expect(() => filter({ objectMasks: [bowTie] })).toThrow(/crosses itself/)
    const twoPoints: Polygon = [
      [0, 0],
      [1, 1],
    ]
    expect(() => filter({ objectMasks: [twoPoints] })).toThrow(RangeError)
  })
})

describe('medianScore', () => {
  it('takes the middle score of an odd count, in any order', () => {
    expect(medianScore([0.9, 0.2, 0.5])).toBe(0.5)
    expect(medianScore([0.8])).toBe(0.8)
  })

  it('averages the middle two of an even count', () => {
    expect(medianScore([0.9, 0.2, 0.4, 0.6])).toBeCloseTo(0.5, 12)
    expect(medianScore([0.3, 0.7])).toBeCloseTo(0.5, 12)
  })

  it('is 0 for no scores and counts hostile scores as 0', () => {
    expect(medianScore([])).toBe(0)
    expect(medianScore([Number.NaN, Number.NaN, 0.9])).toBe(0)
    expect(medianScore([Number.POSITIVE_INFINITY, 5, 0.1])).toBe(0)
    expect(medianScore([-1, 0.9, 0.9])).toBe(0.9)
  })
})

describe('ObjectFilter.passesThreshold', () => {
  const f = filter() // threshold: default 0.7

  it('needs the median of the scores to reach the threshold (odd count)', () => {
    expect(f.passesThreshold([0.7, 0.7, 0.7])).toBe(true)
    expect(f.passesThreshold([0.69, 0.95, 0.6])).toBe(false)
    expect(f.passesThreshold([0.2, 0.75, 0.9])).toBe(true)
  })

  it('needs the mean of the middle two to reach it (even count)', () => {
    expect(f.passesThreshold([0.2, 0.6, 0.7, 0.9])).toBe(false) // median 0.65
    expect(f.passesThreshold([0.2, 0.7, 0.8, 0.9])).toBe(true) // median 0.75
  })

  it('never passes on one high score: a short history is padded with zeros to three', () => {
    expect(f.passesThreshold([])).toBe(false)
    expect(f.passesThreshold([0.99])).toBe(false)
    expect(f.passesThreshold([0.9, 0.9])).toBe(true)
  })

  it('looks only at the latest ten scores', () => {
    const high = Array<number>(10).fill(0.9)
    const zeros = Array<number>(10).fill(0)
    expect(f.passesThreshold([...zeros, ...high])).toBe(true)
    expect(f.passesThreshold([...high, ...Array<number>(6).fill(0)])).toBe(false)
  })

  it('uses the configured threshold', () => {
    const strict = filter({ threshold: 0.8 })
    expect(strict.passesThreshold([0.75, 0.75, 0.75])).toBe(false)
    expect(strict.passesThreshold([0.85, 0.85, 0.85])).toBe(true)
  })

  it('does not pass hostile scores', () => {
    expect(f.passesThreshold([Number.NaN, Number.NaN, Number.NaN])).toBe(false)
    expect(f.passesThreshold([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 0.1])).toBe(false)
    expect(f.passesThreshold([-5, -5, 0.9])).toBe(false)
    expect(f.passesThreshold([2, 2, 2])).toBe(false)
  })
})
