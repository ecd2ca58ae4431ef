import { describe, expect, it } from 'vitest'
import type { Box, Frame } from '../types.ts'
import { letterbox, letterboxGeometry, modelBoxToFrame } from './letterbox.ts'

/** A yuv420p frame whose luma is `lumaAt(x)` per column and whose chroma is uniform. */
function makeFrame(width: number, height: number, lumaAt: (x: number) => number, u = 128, v = 128): Frame {
  const data = Buffer.alloc((width * height * 3) / 2)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = lumaAt(x)
  const quarter = (width * height) / 4
  data.fill(u, width * height, width * height + quarter)
  data.fill(v, width * height + quarter)
  return { width, height, data, time: 0 }
}

/** What a limited-range luma with neutral chroma becomes in 0..255 RGB (every channel). */
const grey = (luma: number) => 1.164383 * (luma - 16)

function expectBox(actual: Box, expected: Box) {
  expect(actual.x1).toBeCloseTo(expected.x1, 6)
  expect(actual.y1).toBeCloseTo(expected.y1, 6)
  expect(actual.x2).toBeCloseTo(expected.x2, 6)
  expect(actual.y2).toBeCloseTo(expected.y2, 6)
}

/** Values of plane `c` of a CHW tensor of `size`x`size`, row `y`. */
const row = (data: Float32Array, size: number, c: number, y: number) =>
  Array.from(data.subarray(c * size * size + y * size, c * size * size + (y + 1) * size))

const input = { width: 64, height: 64 }
const frame = makeFrame(200, 100, () => 128)
// 100x50 frame pixels at (40, 20): scale 0.64 to 64x32 in a 64x64 input.
const region: Box = { x1: 40, y1: 20, x2: 140, y2: 70 }

describe('letterbox mapping', () => {
  it('YOLOX: anchored top-left, boxes map back through the region offset', () => {
    const { mapping, toFrame } = letterbox(frame, region, input, 'yolox')
    expect(mapping).toEqual({
      scale: 0.64,
      padX: 0,
      padY: 0,
      regionX: 40,
      regionY: 20,
      frameWidth: 200,
      frameHeight: 100,
    })
    expectBox(toFrame({ x1: 0, y1: 0, x2: 64, y2: 32 }), region)
    expectBox(toFrame({ x1: 32, y1: 16, x2: 48, y2: 24 }), { x1: 90, y1: 45, x2: 115, y2: 57.5 })
  })

  it('YOLOv8: centred, the padding is taken off first', () => {
    const { mapping, toFrame } = letterbox(frame, region, input, 'yolov8')
    expect([mapping.scale, mapping.padX, mapping.padY]).toEqual([0.64, 0, 16])
    expectBox(toFrame({ x1: 0, y1: 16, x2: 64, y2: 48 }), region)
    expectBox(toFrame({ x1: 32, y1: 32, x2: 48, y2: 40 }), { x1: 90, y1: 45, x2: 115, y2: 57.5 })
  })

  it('clamps boxes to the frame', () => {
    const atEdge = letterbox(frame, { x1: 100, y1: 50, x2: 200, y2: 100 }, input, 'yolox')
    expectBox(atEdge.toFrame({ x1: -10, y1: 0, x2: 80, y2: 40 }), { x1: 84.375, y1: 50, x2: 200, y2: 100 })
    const whole = letterbox(frame, { x1: 0, y1: 0, x2: 200, y2: 100 }, input, 'yolov8')
    expectBox(whole.toFrame({ x1: -5, y1: 0, x2: 70, y2: 64 }), { x1: 0, y1: 0, x2: 200, y2: 100 })
  })

  it('widens a fractional region to whole pixels and clips it to the frame', () => {
    const { mapping } = letterbox(frame, { x1: 40.5, y1: 20.2, x2: 139.5, y2: 69.9 }, input, 'yolox')
    expect([mapping.regionX, mapping.regionY, mapping.scale]).toEqual([40, 20, 0.64])
    const clipped = letterbox(frame, { x1: -50, y1: -10, x2: 150, y2: 300 }, input, 'yolox')
    expect([clipped.mapping.regionX, clipped.mapping.regionY, clipped.mapping.scale]).toEqual([
      0,
      0,
      64 / 150,
    ])
  })

  it('splits odd padding as Ultralytics does (the smaller half first)', () => {
    // 100x48 at 0.64 is 64x31: 33 rows of padding, 16 above and 17 below.
    expect(letterboxGeometry(100, 48, input, 'yolov8')).toEqual({
      scale: 0.64,
      padX: 0,
      padY: 16,
      width: 64,
      height: 31,
    })
    expect(letterboxGeometry(100, 48, input, 'yolox')).toMatchObject({ padX: 0, padY: 0, height: 31 })
  })

  it('modelBoxToFrame is the inverse of the scale and offset', () => {
    const m = { scale: 0.5, padX: 4, padY: 8, regionX: 10, regionY: 20, frameWidth: 1000, frameHeight: 1000 }
    expectBox(modelBoxToFrame({ x1: 4, y1: 8, x2: 14, y2: 18 }, m), { x1: 10, y1: 20, x2: 30, y2: 40 })
  })
})

describe('letterbox tensor', () => {
  it('YOLOX: grey image top-left in 0..255, 114 below it', () => {
    const { data } = letterbox(frame, region, input, 'yolox')
    expect(data).toHaveLength(3 * 64 * 64)
    for (let c = 0; c < 3; c++) {
      for (const y of [0, 15, 31]) for (const v of row(data, 64, c, y)) expect(v).toBeCloseTo(grey(128), 3)
      for (const y of [32, 50, 63]) for (const v of row(data, 64, c, y)) expect(v).toBe(114)
    }
  })

  it('YOLOv8: grey image centred in 0..1, 114/255 above and below', () => {
    const { data } = letterbox(frame, region, input, 'yolov8')
    for (let c = 0; c < 3; c++) {
      for (const y of [0, 15, 48, 63])
        for (const v of row(data, 64, c, y)) expect(v).toBeCloseTo(114 / 255, 6)
      for (const y of [16, 31, 47])
        for (const v of row(data, 64, c, y)) expect(v).toBeCloseTo(grey(128) / 255, 5)
    }
  })

  it('orders channels BGR for YOLOX and RGB for YOLOv8', () => {
    // BT.601 limited-range red: Y 82, Cb 90, Cr 240.
    const red = makeFrame(32, 32, () => 82, 90, 240)
    const whole: Box = { x1: 0, y1: 0, x2: 32, y2: 32 }
    const size = { width: 32, height: 32 }
    const yolox = letterbox(red, whole, size, 'yolox').data
    expect(yolox[0]).toBeLessThan(2) // B
    expect(yolox[32 * 32]).toBeLessThan(2) // G
    expect(yolox[2 * 32 * 32]).toBeGreaterThan(253) // R
    const yolov8 = letterbox(red, whole, size, 'yolov8').data
    expect(yolov8[0]).toBeGreaterThan(0.99) // R
    expect(yolov8[32 * 32]).toBeLessThan(0.01) // G
    expect(yolov8[2 * 32 * 32]).toBeLessThan(0.01) // B
  })

  it('samples only inside the region', () => {
    // Dark left half (luma 50), bright right half (luma 200).
    const halves = makeFrame(200, 100, (x) => (x < 100 ? 50 : 200))
    const right = letterbox(halves, { x1: 100, y1: 0, x2: 200, y2: 100 }, input, 'yolox').data
    for (let y = 0; y < 64; y++) for (const v of row(right, 64, 1, y)) expect(v).toBeCloseTo(grey(200), 3)
    // Straddling the edge, 80x100 at scale 0.64 into 51x64: dark at the left, bright at the right,
    // padding after column 50. Column 25 samples x = 60 + 25.5 / 0.64 - 0.5 = 99.34375, between
    // the last dark and the first bright column.
    const middle = letterbox(halves, { x1: 60, y1: 0, x2: 140, y2: 100 }, input, 'yolox').data
    const line = row(middle, 64, 1, 10)
    expect(line[0]).toBeCloseTo(grey(50), 3)
    expect(line[24]).toBeCloseTo(grey(50), 3)
    expect(line[25]).toBeCloseTo(grey(50 + 150 * 0.34375), 3)
    expect(line[26]).toBeCloseTo(grey(200), 3)
    expect(line[50]).toBeCloseTo(grey(200), 3)
    expect(line[51]).toBe(114)
  })

  it('fills a buffer handed in, and refuses one of the wrong size', () => {
    const out = new Float32Array(3 * 64 * 64)
    expect(letterbox(frame, region, input, 'yolox', out).data).toBe(out)
    expect(() => letterbox(frame, region, input, 'yolox', new Float32Array(10))).toThrow(RangeError)
  })

  it('refuses a region outside the frame and a frame that is not yuv420p-sized', () => {
    expect(() => letterbox(frame, { x1: 300, y1: 0, x2: 400, y2: 50 }, input, 'yolox')).toThrow(/no pixels/)
    expect(() => letterbox(frame, { x1: 10, y1: 10, x2: 10, y2: 50 }, input, 'yolox')).toThrow(RangeError)
    expect(() => letterbox(frame, { x1: Number.NaN, y1: 0, x2: 10, y2: 10 }, input, 'yolox')).toThrow(
      RangeError,
    )
    const short = { ...frame, data: frame.data.subarray(0, 200 * 100) }
    expect(() => letterbox(short, region, input, 'yolox')).toThrow(/needs more/)
    const odd = { ...frame, width: 199 }
    expect(() => letterbox(odd, region, input, 'yolox')).toThrow(/not even/)
  })
})
