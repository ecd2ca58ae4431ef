import { describe, expect, it } from 'vitest'
import type { Box } from '../types.ts'
import { KalmanBox } from './kalman-box.ts'

const boxAt = (cx: number, cy: number, w = 60, h = 120): Box => ({
  x1: cx - w / 2,
  y1: cy - h / 2,
  x2: cx + w / 2,
  y2: cy + h / 2,
})
const centre = (b: Box) => ({ x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 })

describe('KalmanBox', () => {
  it('starts on the box it was given', () => {
    const box = boxAt(100, 200)
    const k = new KalmanBox(box)
    for (const key of ['x1', 'y1', 'x2', 'y2'] as const) expect(k.box[key]).toBeCloseTo(box[key], 9)
  })

  it('learns a constant velocity and predicts the box ahead', () => {
    const k = new KalmanBox(boxAt(100, 200))
    for (let f = 1; f <= 15; f++) {
      k.predict()
      k.update(boxAt(100 + 12 * f, 200 - 4 * f))
    }
    expect(k.velocity.x).toBeCloseTo(12, 0)
    expect(k.velocity.y).toBeCloseTo(-4, 0)
    k.predict()
    const predicted = centre(k.box)
    // Frame 16 is at (292, 136): the prediction gets there, not stuck at frame 15's (280, 140).
    expect(Math.abs(predicted.x - 292)).toBeLessThan(1.5)
    expect(Math.abs(predicted.y - 136)).toBeLessThan(1.5)
    expect(k.box.y2 - k.box.y1).toBeCloseTo(120, 0)
  })

  it('predicts several frames at once as far as the same number of single steps', () => {
    const a = new KalmanBox(boxAt(100, 200))
    const b = new KalmanBox(boxAt(100, 200))
    for (let f = 1; f <= 10; f++) {
      for (const k of [a, b]) {
        k.predict()
        k.update(boxAt(100 + 10 * f, 200))
      }
    }
    a.predict(5)
    for (let i = 0; i < 5; i++) b.predict()
    expect(a.box.x1).toBeCloseTo(b.box.x1, 6)
    expect(a.box.y2).toBeCloseTo(b.box.y2, 6)
    expect(centre(a.box).x).toBeGreaterThan(195)
  })

  it('keeps a stationary box where it is', () => {
    const k = new KalmanBox(boxAt(300, 300, 80, 40))
    for (let f = 0; f < 10; f++) {
      k.predict()
      k.update(boxAt(300, 300, 80, 40))
    }
    k.predict(5)
    const c = centre(k.box)
    expect(c.x).toBeCloseTo(300, 6)
    expect(c.y).toBeCloseTo(300, 6)
    expect(k.box.x2 - k.box.x1).toBeCloseTo(80, 6)
    expect(k.box.y2 - k.box.y1).toBeCloseTo(40, 6)
  })

  it('does nothing for a zero or negative step', () => {
    const k = new KalmanBox(boxAt(50, 50))
    k.predict()
    k.update(boxAt(60, 50))
    const before = k.box
    k.predict(0)
    k.predict(-3)
    expect(k.box).toEqual(before)
  })

  it('smooths detector jitter', () => {
    const k = new KalmanBox(boxAt(200, 200))
    const jitter = [3, -3, 2, -2, 3, -3, 2, -2, 3, -3]
    for (const dx of jitter) {
      k.predict()
      k.update(boxAt(200 + dx, 200))
    }
    expect(Math.abs(centre(k.box).x - 200)).toBeLessThan(2)
  })
})
