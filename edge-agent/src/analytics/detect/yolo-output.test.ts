import { describe, expect, it } from 'vitest'
import type { Box } from '../types.ts'
import type { Candidate } from './nms.ts'
import { decodeYoloOutput, decodeYolov8, decodeYolox, yoloxAnchorCount, yoloxGrids } from './yolo-output.ts'

function expectBox(actual: Box, expected: Box) {
  expect(actual.x1).toBeCloseTo(expected.x1, 4)
  expect(actual.y1).toBeCloseTo(expected.y1, 4)
  expect(actual.x2).toBeCloseTo(expected.x2, 4)
  expect(actual.y2).toBeCloseTo(expected.y2, 4)
}

const byScore = (found: Candidate[]) => [...found].sort((a, b) => b.score - a.score)

describe('YOLOv8 output [1, 4 + classes, anchors]', () => {
  const classes = 3
  /** Anchors as [cx, cy, w, h, score of class 0, 1, 2], written channel-major like the model. */
  const anchors: number[][] = [
    [20, 20, 10, 10, 0.9, 0.05, 0.01], // person-like class 0
    [21, 20, 10, 10, 0.8, 0.02, 0.01], // duplicate of the first (IoU 0.82), class 0
    [21, 21, 10, 10, 0.1, 0.7, 0.05], // overlaps the first, but class 1
    [50, 40, 8, 12, 0.02, 0.03, 0.6], // class 2 elsewhere
    [10, 50, 6, 6, 0.1, 0.2, 0.25], // too weak for 0.3
    [55, 10, 4, 2, 0.5, 0.1, 0.1], // class 0 elsewhere
  ]
  const output = new Float32Array((4 + classes) * anchors.length)
  anchors.forEach((values, a) => {
    values.forEach((v, channel) => {
      output[channel * anchors.length + a] = v
    })
  })

  it('decodes centre and size to corners, best class, score filter', () => {
    const found = byScore(decodeYolov8(output, classes, 0.3))
    expect(found.map((c) => c.classId)).toEqual([0, 0, 1, 2, 0])
    expect(found.map((c) => c.score)).toEqual([0.9, 0.8, 0.7, 0.6, 0.5].map(Math.fround))
    expectBox(found[0]!.box, { x1: 15, y1: 15, x2: 25, y2: 25 })
    expectBox(found[1]!.box, { x1: 16, y1: 15, x2: 26, y2: 25 })
    expectBox(found[2]!.box, { x1: 16, y1: 16, x2: 26, y2: 26 })
    expectBox(found[3]!.box, { x1: 46, y1: 34, x2: 54, y2: 46 })
    expectBox(found[4]!.box, { x1: 53, y1: 9, x2: 57, y2: 11 })
  })

  it('then NMS drops the duplicate of the same class and keeps the other class', () => {
    const kept = decodeYoloOutput(
      'yolov8',
      output,
      { inputWidth: 64, inputHeight: 64, classes },
      { minScore: 0.3 },
    )
    expect(kept.map((c) => [c.classId, Math.round(c.score * 100)])).toEqual([
      [0, 90],
      [1, 70],
      [2, 60],
      [0, 50],
    ])
    expectBox(kept[0]!.box, { x1: 15, y1: 15, x2: 25, y2: 25 })
  })

  it('a lower threshold lets the weak anchor through; a layout of the wrong size is refused', () => {
    expect(decodeYolov8(output, classes, 0.2)).toHaveLength(6)
    expect(() => decodeYolov8(output, 4, 0.3)).toThrow(RangeError)
  })
})

describe('YOLOX output [1, anchors, 5 + classes]', () => {
  it('has grids of strides 8, 16, 32 following the input size', () => {
    expect(yoloxGrids(416, 416).map((g) => [g.width, g.height])).toEqual([
      [52, 52],
      [26, 26],
      [13, 13],
    ])
    expect(yoloxAnchorCount(416, 416)).toBe(3549)
    expect(yoloxAnchorCount(64, 64)).toBe(64 + 16 + 4)
    expect(yoloxAnchorCount(640, 384)).toBe(80 * 48 + 40 * 24 + 20 * 12)
  })

  const classes = 2
  const rowLength = 5 + classes

  /** An all-zero output (objectness 0: nothing) for the input size, with rows set by cell. */
  function yoloxOutput(width: number, height: number) {
    const grids = yoloxGrids(width, height)
    const data = new Float32Array(yoloxAnchorCount(width, height) * rowLength)
    const set = (stride: number, gx: number, gy: number, row: number[]) => {
      let first = 0
      for (const g of grids) {
        if (g.stride === stride) break
        first += g.width * g.height
      }
      const grid = grids.find((g) => g.stride === stride)!
      data.set(row, (first + gy * grid.width + gx) * rowLength)
    }
    return { data, set }
  }

  it('decodes cells of each stride of a 64x64 input (grids 8x8, 4x4, 2x2)', () => {
    const { data, set } = yoloxOutput(64, 64)
    // stride 8, cell (3, 5): cx = 3.5 * 8 = 28, cy = 5.5 * 8 = 44, w = 2 * 8, h = 1 * 8
    set(8, 3, 5, [0.5, 0.5, Math.log(2), 0, 0.9, 0.1, 0.8])
    // stride 16, cell (1, 2): cx = 1.25 * 16 = 20, cy = 2 * 16 = 32, w = h = 16 / 2
    set(16, 1, 2, [0.25, 0, Math.log(0.5), Math.log(0.5), 0.8, 0.75, 0.2])
    // stride 32, last cell (1, 1): cx = 1.5 * 32 = 48, cy = 1.5 * 32 = 48, w = 32, h = 64
    set(32, 1, 1, [0.5, 0.5, 0, Math.log(2), 1, 0.4, 0.5])
    // Strong objectness, weak classes: 0.95 x 0.2 = 0.19 < 0.3
    set(8, 0, 0, [0, 0, 0, 0, 0.95, 0.2, 0.1])
    // Strong class, weak objectness
    set(16, 3, 3, [0, 0, 0, 0, 0.2, 0.99, 0])

    const found = byScore(decodeYolox(data, { inputWidth: 64, inputHeight: 64, classes }, 0.3))
    expect(found.map((c) => c.classId)).toEqual([1, 0, 1])
    expect(found[0]!.score).toBeCloseTo(0.72, 6)
    expect(found[1]!.score).toBeCloseTo(0.6, 6)
    expect(found[2]!.score).toBeCloseTo(0.5, 6)
    expectBox(found[0]!.box, { x1: 20, y1: 40, x2: 36, y2: 48 })
    expectBox(found[1]!.box, { x1: 16, y1: 28, x2: 24, y2: 36 })
    expectBox(found[2]!.box, { x1: 32, y1: 16, x2: 64, y2: 80 })
  })

  it('walks a non-square input row by row (96x64: grids 12x8, 6x4, 3x2)', () => {
    const { data, set } = yoloxOutput(96, 64)
    set(8, 11, 0, [0, 0, 0, 0, 1, 1, 0]) // last column of the first row
    set(8, 0, 7, [0, 0, 0, 0, 1, 1, 0]) // first column of the last row
    set(32, 2, 1, [0, 0, 0, 0, 1, 0, 1]) // the very last output row
    const found = decodeYolox(data, { inputWidth: 96, inputHeight: 64, classes }, 0.5)
    expect(found.map((c) => [(c.box.x1 + c.box.x2) / 2, (c.box.y1 + c.box.y2) / 2, c.classId])).toEqual([
      [88, 0, 0],
      [0, 56, 0],
      [64, 32, 1],
    ])
    expect(data.length / rowLength).toBe(96 + 24 + 6)
  })

  it('refuses an output whose size does not fit the input and classes', () => {
    const { data } = yoloxOutput(64, 64)
    expect(() => decodeYolox(data, { inputWidth: 96, inputHeight: 64, classes }, 0.3)).toThrow(RangeError)
    expect(() => decodeYolox(data, { inputWidth: 64, inputHeight: 64, classes: 3 }, 0.3)).toThrow(RangeError)
  })

  it('then class-wise NMS', () => {
    const { data, set } = yoloxOutput(64, 64)
    set(8, 3, 3, [0.5, 0.5, Math.log(2), Math.log(2), 0.9, 1, 0]) // 28,28 16x16
    set(8, 4, 3, [0, 0.5, Math.log(2), Math.log(2), 0.8, 1, 0]) // 32,28: IoU 0.6 with the first
    set(8, 4, 4, [0, 0, Math.log(2), Math.log(2), 0.7, 0, 1]) // 32,32: class 1
    const kept = decodeYoloOutput(
      'yolox',
      data,
      { inputWidth: 64, inputHeight: 64, classes },
      { minScore: 0.3 },
    )
    expect(kept.map((c) => [c.classId, Math.round(c.score * 10)])).toEqual([
      [0, 9],
      [1, 7],
    ])
  })
})
