import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Box } from '../types.ts'
import {
  isBoxCoveredByRegions,
  isStationaryRecheckDue,
  type PlanRegionsInput,
  planRegions,
  type RegionTrackedObject,
  stationaryRecheckPhase,
} from './regions.ts'

const box = (x1: number, y1: number, x2: number, y2: number): Box => ({ x1, y1, x2, y2 })
const side = (b: Box) => ({ width: b.x2 - b.x1, height: b.y2 - b.y1 })

/** A 1080p frame and a 416 model unless a test says otherwise. */
const plan = (overrides: Partial<PlanRegionsInput>): Box[] =>
  planRegions({
    frameWidth: 1920,
    frameHeight: 1080,
    modelSize: 416,
    motion: [],
    tracked: [],
    frameIndex: 0,
    ...overrides,
  })

describe('planRegions: one box', () => {
  it('puts a model-sized square centred on a small motion box', () => {
    const regions = plan({ motion: [box(900, 500, 950, 600)] })
    expect(regions).toEqual([box(717, 342, 1133, 758)])
  })

  it('shifts the square inside the frame at the corners instead of shrinking it', () => {
    expect(plan({ motion: [box(0, 0, 40, 40)] })).toEqual([box(0, 0, 416, 416)])
    expect(plan({ motion: [box(1900, 1060, 1920, 1080)] })).toEqual([box(1504, 664, 1920, 1080)])
    expect(plan({ motion: [box(1890, 5, 1910, 30)] })).toEqual([box(1504, 0, 1920, 416)])
  })

  it('grows the square to the box side plus a 1.2x margin for a big box', () => {
    const [region, ...rest] = plan({ motion: [box(600, 100, 1200, 900)] })
    expect(rest).toEqual([])
    expect(side(region!)).toEqual({ width: 960, height: 960 })
    expect(isBoxCoveredByRegions([region!], box(600, 100, 1200, 900))).toBe(true)
  })

  it('caps the square at the frame height when the margin would not fit', () => {
    const regions = plan({ frameWidth: 3840, frameHeight: 1080, motion: [box(1000, 40, 1500, 1040)] })
    expect(regions).toEqual([box(710, 0, 1790, 1080)])
  })

  it('gives the whole frame to a region covering most of it', () => {
    // 1080x1080 of a 1280x1080 frame is 84%: one whole-frame inference instead.
    expect(plan({ frameWidth: 1280, motion: [box(200, 100, 1100, 1000)] })).toEqual([box(0, 0, 1280, 1080)])
  })

  it('gives the whole frame to a box wider than any square the frame can hold', () => {
    expect(plan({ motion: [box(100, 400, 1500, 700)] })).toEqual([box(0, 0, 1920, 1080)])
  })

  it('places a square around a moving tracked object, clipped to the frame first', () => {
    const walker: RegionTrackedObject = { id: 'p', box: box(-30, 300, 40, 500), stationary: false }
    expect(plan({ tracked: [walker] })).toEqual([box(0, 192, 416, 608)])
  })

  it('ignores a tracked prediction that drifted entirely off the frame', () => {
    const gone: RegionTrackedObject = { id: 'p', box: box(1950, 300, 2000, 500), stationary: false }
    expect(plan({ tracked: [gone] })).toEqual([])
  })
})

describe('planRegions: several boxes', () => {
  it('merges two nearby boxes into one square covering both', () => {
    const a = box(500, 500, 550, 600)
    const b = box(600, 520, 650, 620)
    const regions = plan({ motion: [a], tracked: [{ id: 't', box: b, stationary: false }] })
    expect(regions).toHaveLength(1)
    expect(side(regions[0]!).width).toBe(side(regions[0]!).height)
    expect(side(regions[0]!).width).toBeLessThan(1.25 * 416)
    expect(isBoxCoveredByRegions(regions, a)).toBe(true)
    expect(isBoxCoveredByRegions(regions, b)).toBe(true)
  })

  it('merges a region lying inside another', () => {
    const person = box(800, 200, 1000, 900)
    const hand = box(850, 400, 870, 420)
    const regions = plan({ motion: [person, hand] })
    expect(regions).toHaveLength(1)
    expect(side(regions[0]!)).toEqual({ width: 840, height: 840 })
  })

  it('keeps two far-apart boxes as two squares', () => {
    const regions = plan({ motion: [box(100, 100, 150, 150), box(1700, 900, 1750, 950)] })
    expect(regions).toEqual([box(0, 0, 416, 416), box(1504, 664, 1920, 1080)])
  })

  it('keeps two merely touching squares apart: merging would halve their resolution', () => {
    // Squares [0, 416) and [416, 832): the covering square has twice their pixels.
    const regions = plan({ motion: [box(200, 200, 216, 216), box(616, 200, 632, 216)] })
    expect(regions).toEqual([box(0, 0, 416, 416), box(416, 0, 832, 416)])
  })

  it('honours a looser merge ratio', () => {
    const boxes = [box(200, 200, 216, 216), box(616, 200, 632, 216)]
    expect(plan({ motion: boxes, mergeAreaRatio: 2 })).toEqual([box(0, 0, 832, 832)])
  })
})

describe('planRegions: nothing to look at', () => {
  it('returns [] when nothing moves and nothing is tracked', () => {
    expect(plan({})).toEqual([])
  })

  it('returns [] when only stationary objects are tracked and no recheck is due', () => {
    const parked: RegionTrackedObject = { id: 'car-1', box: box(100, 600, 400, 800), stationary: true }
    const notDue = [0, 1, 2, 3].find((f) => !isStationaryRecheckDue('car-1', f, 50))!
    expect(plan({ tracked: [parked], frameIndex: notDue })).toEqual([])
  })
})

describe('planRegions: stationary rechecks', () => {
  it('rechecks a stationary object exactly once every N frames', () => {
    const parked: RegionTrackedObject = { id: 'car-1', box: box(100, 600, 400, 800), stationary: true }
    const dueFrames: number[] = []
    for (let frameIndex = 0; frameIndex < 150; frameIndex++) {
      const regions = plan({ tracked: [parked], frameIndex, stationaryRecheckFrames: 50 })
      if (regions.length > 0) {
        dueFrames.push(frameIndex)
        expect(isBoxCoveredByRegions(regions, parked.box)).toBe(true)
      }
    }
    expect(dueFrames).toHaveLength(3)
    expect(dueFrames[1]! - dueFrames[0]!).toBe(50)
    expect(dueFrames[2]! - dueFrames[1]!).toBe(50)
  })

  it('spreads the rechecks of many parked cars over the period', () => {
    const ids = Array.from({ length: 12 }, (_, i) => `car-${i}`)
    const every = 50
    const dueAt = new Map<number, number>()
    for (let frameIndex = 100; frameIndex < 100 + every; frameIndex++) {
      for (const id of ids) {
        if (isStationaryRecheckDue(id, frameIndex, every))
          dueAt.set(frameIndex, (dueAt.get(frameIndex) ?? 0) + 1)
      }
    }
    // Each id is due exactly once per period...
    expect([...dueAt.values()].reduce((sum, n) => sum + n, 0)).toBe(ids.length)
    // ...and not all on the same frame.
    expect(dueAt.size).toBeGreaterThanOrEqual(8)
    expect(Math.max(...dueAt.values())).toBeLessThanOrEqual(2)
  })

  it('keeps an id on the same phase across calls', () => {
    expect(stationaryRecheckPhase('car-7', 50)).toBe(stationaryRecheckPhase('car-7', 50))
    const phase = stationaryRecheckPhase('car-7', 50)
    expect(phase).toBeGreaterThanOrEqual(0)
    expect(phase).toBeLessThan(50)
    expect(isStationaryRecheckDue('car-7', (50 - phase) % 50, 50)).toBe(true)
  })

  it('always includes a moving object alongside a stationary one not due', () => {
    const every = 50
    const notDue = [0, 1, 2].find((f) => !isStationaryRecheckDue('car-1', f, every))!
    const regions = plan({
      frameIndex: notDue,
      tracked: [
        { id: 'car-1', box: box(100, 600, 400, 800), stationary: true },
        { id: 'walker', box: box(1500, 100, 1560, 300), stationary: false },
      ],
    })
    expect(regions).toEqual([box(1322, 0, 1738, 416)])
  })
})

describe('planRegions: small frames', () => {
  it('gives the whole frame when the frame fits the model input', () => {
    const regions = plan({ frameWidth: 320, frameHeight: 240, motion: [box(10, 10, 20, 20)] })
    expect(regions).toEqual([box(0, 0, 320, 240)])
  })

  it('still returns [] on a small frame with nothing to look at', () => {
    expect(plan({ frameWidth: 320, frameHeight: 240 })).toEqual([])
  })

  it('uses the frame height as the square side when only that is below the model size', () => {
    const regions = plan({ frameWidth: 640, frameHeight: 360, motion: [box(10, 10, 20, 20)] })
    expect(regions).toEqual([box(0, 0, 360, 360)])
  })
})

describe('planRegions: input checks', () => {
  it('rejects nonsensical geometry', () => {
    expect(() => plan({ modelSize: 0 })).toThrow(RangeError)
    expect(() => plan({ frameWidth: 10.5 })).toThrow(RangeError)
    expect(() => plan({ frameIndex: -1 })).toThrow(RangeError)
    expect(() => plan({ stationaryRecheckFrames: 0 })).toThrow(RangeError)
    expect(() => plan({ mergeAreaRatio: 0.5 })).toThrow(RangeError)
  })
})

describe('isBoxCoveredByRegions', () => {
  it('needs the whole box inside one region, edges inclusive', () => {
    const regions = [box(0, 0, 416, 416), box(416, 0, 832, 416)]
    expect(isBoxCoveredByRegions(regions, box(0, 0, 416, 416))).toBe(true)
    expect(isBoxCoveredByRegions(regions, box(500, 10, 600, 100))).toBe(true)
    // Straddling two regions is not covered: the detector sees each half separately.
    expect(isBoxCoveredByRegions(regions, box(400, 10, 430, 100))).toBe(false)
    expect(isBoxCoveredByRegions([], box(0, 0, 1, 1))).toBe(false)
  })
})

describe('planRegions: properties', () => {
  const scenario = fc
    .record({
      frameWidth: fc.integer({ min: 32, max: 2000 }),
      frameHeight: fc.integer({ min: 32, max: 2000 }),
      modelSize: fc.integer({ min: 16, max: 800 }),
      frameIndex: fc.nat({ max: 1000 }),
      stationaryRecheckFrames: fc.integer({ min: 1, max: 60 }),
      rawBoxes: fc.array(
        fc.record({
          // Relative corners (may stick out of the frame a little, as Kalman predictions do).
          a: fc.tuple(
            fc.double({ min: -0.1, max: 1.1, noNaN: true }),
            fc.double({ min: -0.1, max: 1.1, noNaN: true }),
          ),
          b: fc.tuple(
            fc.double({ min: -0.1, max: 1.1, noNaN: true }),
            fc.double({ min: -0.1, max: 1.1, noNaN: true }),
          ),
          kind: fc.constantFrom('motion', 'moving', 'stationary'),
        }),
        { maxLength: 8 },
      ),
    })
    .map(({ rawBoxes, ...frame }) => {
      const toBox = ({ a, b }: { a: [number, number]; b: [number, number] }): Box => ({
        x1: Math.min(a[0], b[0]) * frame.frameWidth,
        y1: Math.min(a[1], b[1]) * frame.frameHeight,
        x2: (Math.max(a[0], b[0]) + 0.001) * frame.frameWidth,
        y2: (Math.max(a[1], b[1]) + 0.001) * frame.frameHeight,
      })
      const motion = rawBoxes.filter((r) => r.kind === 'motion').map(toBox)
      const tracked = rawBoxes
        .filter((r) => r.kind !== 'motion')
        .map((r, i) => ({ id: `obj-${i}`, box: toBox(r), stationary: r.kind === 'stationary' }))
      return { ...frame, motion, tracked }
    })

  it('returns squares inside the frame with integer edges that contain every box asked for', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const regions = planRegions(input)
        const { frameWidth: w, frameHeight: h } = input
        const wholeFrame = box(0, 0, w, h)
        for (const r of regions) {
          expect([r.x1, r.y1, r.x2, r.y2].every(Number.isInteger)).toBe(true)
          expect(r.x1).toBeGreaterThanOrEqual(0)
          expect(r.y1).toBeGreaterThanOrEqual(0)
          expect(r.x2).toBeLessThanOrEqual(w)
          expect(r.y2).toBeLessThanOrEqual(h)
          const { width, height } = side(r)
          if (width !== height) expect(r).toEqual(wholeFrame)
          else expect(width).toBeGreaterThanOrEqual(Math.min(input.modelSize, w, h))
        }
        const asked = [
          ...input.motion,
          ...input.tracked
            .filter(
              (t) =>
                !t.stationary ||
                isStationaryRecheckDue(t.id, input.frameIndex, input.stationaryRecheckFrames),
            )
            .map((t) => t.box),
        ]
        for (const b of asked) {
          const clipped = box(Math.max(0, b.x1), Math.max(0, b.y1), Math.min(w, b.x2), Math.min(h, b.y2))
          if (clipped.x2 <= clipped.x1 || clipped.y2 <= clipped.y1) continue
          expect(isBoxCoveredByRegions(regions, clipped)).toBe(true)
        }
        const anyInside = asked.some(
          (b) => Math.max(0, b.x1) < Math.min(w, b.x2) && Math.max(0, b.y1) < Math.min(h, b.y2),
        )
        expect(regions.length > 0).toBe(anyInside)
        expect(regions.length).toBeLessThanOrEqual(asked.length)
      }),
      { numRuns: 500, seed: 20240607 },
    )
  })
})
