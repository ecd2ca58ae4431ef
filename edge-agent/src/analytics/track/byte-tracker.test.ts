import { describe, expect, it } from 'vitest'
import { iou } from '../detect/nms.ts'
import type { Detection } from '../types.ts'
import { ByteTracker, type ByteTrackerOptions, type TrackedObject } from './byte-tracker.ts'

/** Frames at 5 fps, as the detector runs. */
const FRAME_MS = 200
const T0 = 1_700_000_000_000

function detection(label: string, cx: number, cy: number, score = 0.9, w = 60, h = 120): Detection {
  return {
    box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 },
    score,
    classId: label === 'person' ? 0 : 2,
    label,
  }
}

/** Counter ids keep failures readable; production uses randomUUID. */
function tracker(options: Partial<ByteTrackerOptions> = {}): ByteTracker {
  let next = 0
  return new ByteTracker({ createId: () => `t${++next}`, ...options })
}

const centreX = (o: TrackedObject) => (o.box.x1 + o.box.x2) / 2
const frame = (k: number) => T0 + k * FRAME_MS

describe('ByteTracker', () => {
  it('follows one object across the frame under one id, confirmed on its second hit', () => {
    const t = tracker()
    const first = t.update(frame(0), [detection('person', 50, 300)])
    expect(first.active).toHaveLength(1)
    expect(first.active[0]).toMatchObject({ id: 't1', state: 'tentative', hits: 1, firstSeen: frame(0) })
    for (let k = 1; k < 50; k++) {
      const { active, ended } = t.update(frame(k), [detection('person', 50 + 15 * k, 300)])
      expect(ended).toEqual([])
      expect(active.map((o) => o.id)).toEqual(['t1'])
      expect(active[0]).toMatchObject({
        state: 'confirmed',
        hits: k + 1,
        lastSeen: frame(k),
        label: 'person',
      })
      expect(Math.abs(centreX(active[0]!) - (50 + 15 * k))).toBeLessThan(10)
    }
  })

  // At 35 px a frame a 60 px wide box overlaps its previous self by IoU 0.26 only, about what it
  // overlaps the other person with at the crossing: the Kalman prediction has to carry it.
  it.each([15, 35])('keeps the ids of two objects whose paths cross at %i px a frame', (speed) => {
    const t = tracker()
    let left = ''
    let right = ''
    const crossing = 300 / speed
    for (let k = 0; k <= 2 * crossing; k++) {
      const { active } = t.update(frame(k), [
        detection('person', 100 + speed * k, 300, 0.85),
        detection('person', 100 + 2 * 300 - speed * k, 320, 0.8),
      ])
      expect(active).toHaveLength(2)
      const [a, b] = [...active].sort((p, q) => (p.lastDetection.box.y1 < q.lastDetection.box.y1 ? -1 : 1))
      if (k === 0) {
        left = a!.id
        right = b!.id
      }
      // The one walking right (y 300) keeps its id, before, during and after the crossing.
      expect(a!.id).toBe(left)
      expect(b!.id).toBe(right)
      expect(a!.state).toBe(k === 0 ? 'tentative' : 'confirmed')
    }
  })

  it('keeps a track alive on low-score detections through an occlusion', () => {
    const t = tracker()
    for (let k = 0; k < 5; k++) t.update(frame(k), [detection('person', 100 + 10 * k, 300)])
    // Half hidden behind a car for four frames: the detector is unsure.
    for (let k = 5; k < 9; k++) {
      const { active, ended } = t.update(frame(k), [detection('person', 100 + 10 * k, 300, 0.2)])
      expect(ended).toEqual([])
      expect(active).toHaveLength(1)
      expect(active[0]).toMatchObject({
        id: 't1',
        state: 'confirmed',
        score: 0.2,
        topScore: 0.9,
        lastSeen: frame(k),
      })
    }
    const { active } = t.update(frame(9), [detection('person', 190, 300)])
    expect(active).toHaveLength(1)
    expect(active[0]).toMatchObject({ id: 't1', hits: 10, score: 0.9 })
    expect(active[0]!.scores).toEqual([0.9, 0.9, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2, 0.9])
  })

  it('never starts a track from low-score detections', () => {
    const t = tracker()
    for (let k = 0; k < 10; k++) {
      const { active } = t.update(frame(k), [
        detection('person', 100, 300, 0.2),
        detection('car', 400, 300, 0.45),
      ])
      expect(active).toEqual([])
    }
  })

  it('does not let a low-score detection confirm a tentative track, which ends at its first miss', () => {
    const t = tracker()
    t.update(frame(0), [detection('person', 100, 300)])
    const { active, ended } = t.update(frame(1), [detection('person', 100, 300, 0.3)])
    expect(active).toEqual([])
    expect(ended).toHaveLength(1)
    expect(ended[0]).toMatchObject({ id: 't1', state: 'tentative', hits: 1 })
  })

  it('drops detections below the low threshold and degenerate boxes', () => {
    const t = tracker()
    const flat: Detection = {
      box: { x1: 10, y1: 10, x2: 50, y2: 10 },
      score: 0.9,
      classId: 0,
      label: 'person',
    }
    const broken: Detection = {
      box: { x1: Number.NaN, y1: 0, x2: 5, y2: 5 },
      score: 0.9,
      classId: 0,
      label: 'person',
    }
    expect(t.update(frame(0), [flat, broken, detection('person', 100, 100, 0.05)]).active).toEqual([])
  })

  it('ends a track unseen for 5 s exactly once, going by frame time', () => {
    const t = tracker()
    t.update(frame(0), [detection('car', 400, 300)])
    t.update(frame(1), [detection('car', 400, 300)])
    const endings: { k: number; ended: TrackedObject[] }[] = []
    for (let k = 2; k <= 40; k++) {
      const { active, ended } = t.update(frame(k), [])
      if (ended.length > 0) endings.push({ k, ended })
      // Unseen since frame 1 (T0 + 200): lost until 5 s later, frame 26.
      if (k < 26) expect(active.map((o) => [o.id, o.state])).toEqual([['t1', 'lost']])
      else expect(active).toEqual([])
    }
    expect(endings).toHaveLength(1)
    expect(endings[0]!.k).toBe(26)
    expect(endings[0]!.ended).toHaveLength(1)
    expect(endings[0]!.ended[0]).toMatchObject({ id: 't1', state: 'lost', lastSeen: frame(1), hits: 2 })
  })

  it('ends a track when the stream stalls past the lost time', () => {
    const t = tracker()
    t.update(frame(0), [detection('car', 400, 300)])
    t.update(frame(1), [detection('car', 400, 300)])
    // No frames at all for 6 s, then one with nothing in it.
    const { active, ended } = t.update(frame(1) + 6000, [])
    expect(active).toEqual([])
    expect(ended.map((o) => o.id)).toEqual(['t1'])
    expect(t.size).toBe(0)
  })

  it('advances time on empty frames: a lost track predicted along its path is picked up again', () => {
    const t = tracker()
    for (let k = 0; k < 10; k++) t.update(frame(k), [detection('person', 100 + 12 * k, 300)])
    // Three frames without detections: the track is lost but its prediction keeps walking.
    for (let k = 10; k < 13; k++) {
      const { active } = t.update(frame(k), [])
      expect(active[0]).toMatchObject({ id: 't1', state: 'lost', lastSeen: frame(9) })
      expect(Math.abs(centreX(active[0]!) - (100 + 12 * k))).toBeLessThan(6)
    }
    const { active } = t.update(frame(13), [detection('person', 100 + 12 * 13, 300)])
    expect(active.map((o) => [o.id, o.state])).toEqual([['t1', 'confirmed']])
  })

  it('predicts across a stall by elapsed time, not by frame count', () => {
    const t = tracker()
    for (let k = 0; k < 10; k++) t.update(frame(k), [detection('person', 100 + 12 * k, 300)])
    // The next frame arrives 2 s late: the person walked on for 10 frame intervals, 120 px, far
    // beyond any overlap with where they were last seen.
    const { active } = t.update(frame(19), [detection('person', 100 + 12 * 19, 300)])
    expect(active.map((o) => o.id)).toEqual(['t1'])
    expect(Math.abs(centreX(active[0]!) - (100 + 12 * 19))).toBeLessThan(6)
  })

  it('keeps a person and a car on the same spot apart, and never turns one into the other', () => {
    const t = tracker()
    for (let k = 0; k < 5; k++) {
      const { active } = t.update(frame(k), [detection('person', 300, 300), detection('car', 300, 300, 0.7)])
      expect(active.map((o) => [o.id, o.label])).toEqual([
        ['t1', 'person'],
        ['t2', 'car'],
      ])
    }
    // The person leaves; a car detection on their spot must not continue the person's track.
    const { active } = t.update(frame(5), [detection('car', 300, 300, 0.7)])
    expect(active.map((o) => [o.id, o.label, o.state])).toEqual([
      ['t1', 'person', 'lost'],
      ['t2', 'car', 'confirmed'],
    ])
    const lone = tracker()
    lone.update(frame(0), [detection('person', 300, 300)])
    lone.update(frame(1), [detection('person', 300, 300)])
    const swapped = lone.update(frame(2), [detection('car', 300, 300)])
    expect(swapped.active.map((o) => [o.id, o.label, o.state])).toEqual([
      ['t1', 'person', 'lost'],
      ['t2', 'car', 'tentative'],
    ])
  })

  it('marks an object that stays still as stationary after the window, a moving one never', () => {
    const t = tracker()
    // Detector jitter of a few pixels on the parked car; the person walks slowly (1 m/s-ish).
    const jitter = [0, 3, -2, 2, -3, 1, -1, 3, -2, 0]
    const history: { k: number; car: boolean; person: boolean }[] = []
    for (let k = 0; k < 25; k++) {
      const j = jitter[k % jitter.length]!
      const { active } = t.update(frame(k), [
        detection('car', 400 + j, 300 - j, 0.9, 200, 100),
        detection('person', 100 + 6 * k, 300),
      ])
      const car = active.find((o) => o.label === 'car')!
      const person = active.find((o) => o.label === 'person')!
      history.push({ k, car: car.stationary, person: person.stationary })
    }
    // 2 s = 10 frames: never stationary before the window is covered, then for good.
    expect(history.filter((h) => h.k < 10).every((h) => !h.car)).toBe(true)
    expect(history.filter((h) => h.k >= 12).every((h) => h.car)).toBe(true)
    expect(history.every((h) => !h.person)).toBe(true)
  })

  it('clears the stationary flag as soon as the object moves off', () => {
    const t = tracker()
    for (let k = 0; k < 20; k++) t.update(frame(k), [detection('car', 400, 300, 0.9, 200, 100)])
    expect(t.update(frame(20), [detection('car', 400, 300, 0.9, 200, 100)]).active[0]!.stationary).toBe(true)
    let cleared = -1
    for (let k = 21; k < 30 && cleared < 0; k++) {
      const { active } = t.update(frame(k), [detection('car', 400 + 25 * (k - 20), 300, 0.9, 200, 100)])
      expect(active[0]!.id).toBe('t1')
      if (!active[0]!.stationary) cleared = k
    }
    expect(cleared).toBeGreaterThan(0)
    expect(cleared).toBeLessThanOrEqual(22)
  })

  it('keeps the stationary flag while a parked object is hidden', () => {
    const t = tracker()
    for (let k = 0; k < 15; k++) t.update(frame(k), [detection('car', 400, 300, 0.9, 200, 100)])
    for (let k = 15; k < 20; k++) {
      const { active } = t.update(frame(k), [])
      expect(active[0]).toMatchObject({ state: 'lost', stationary: true })
    }
  })

  it('bounds the score history and keeps the top score', () => {
    const t = tracker({ scoreHistory: 4 })
    const scores = [0.6, 0.95, 0.7, 0.8, 0.65, 0.75]
    let last: TrackedObject | undefined
    scores.forEach((s, k) => {
      last = t.update(frame(k), [detection('person', 100, 100, s)]).active[0]
    })
    expect(last).toMatchObject({ scores: [0.7, 0.8, 0.65, 0.75], topScore: 0.95, score: 0.75, hits: 6 })
  })

  it('hands out snapshots the caller can keep', () => {
    const t = tracker()
    const input = detection('person', 100, 100)
    const first = t.update(frame(0), [input]).active[0]!
    input.box.x1 = -999
    first.scores.push(0)
    const second = t.update(frame(1), [detection('person', 100, 100)]).active[0]!
    expect(first.lastDetection.box.x1).toBe(70)
    expect(second.scores).toEqual([0.9, 0.9])
  })

  it('ends every live track on endAll', () => {
    const t = tracker()
    t.update(frame(0), [detection('person', 100, 100), detection('car', 400, 300)])
    expect(t.endAll().map((o) => o.id)).toEqual(['t1', 't2'])
    expect(t.size).toBe(0)
    expect(t.update(frame(1), []).active).toEqual([])
  })

  it('uses random UUIDs for ids by default', () => {
    const { active } = new ByteTracker().update(frame(0), [
      detection('person', 100, 100),
      detection('car', 400, 300),
    ])
    for (const o of active)
      expect(o.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(active[0]!.id).not.toBe(active[1]!.id)
  })

  it('rejects inconsistent options', () => {
    expect(() => new ByteTracker({ lowScore: 0.6, highScore: 0.5 })).toThrow(RangeError)
    expect(() => new ByteTracker({ frameIntervalMs: 0 })).toThrow(RangeError)
    expect(() => new ByteTracker({ confirmHits: 0 })).toThrow(RangeError)
  })
})

describe('iou, as the tracker uses it', () => {
  it('is 1 for the same box, 0 apart, and the overlap ratio in between', () => {
    const a = { x1: 0, y1: 0, x2: 10, y2: 10 }
    expect(iou(a, a)).toBe(1)
    expect(iou(a, { x1: 10, y1: 0, x2: 20, y2: 10 })).toBe(0)
    expect(iou(a, { x1: 5, y1: 0, x2: 15, y2: 10 })).toBeCloseTo(50 / 150, 12)
  })
})
