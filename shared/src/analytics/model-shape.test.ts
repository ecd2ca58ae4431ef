import { describe, expect, it } from 'vitest'
import { checkModelShape, type ModelMetadata, ModelShapeError, yoloxAnchorRows } from './model-shape.ts'

const model = (input: (number | string)[], output: (number | string)[], type = 'float32'): ModelMetadata => ({
  inputs: [{ name: 'images', dims: input, type }],
  outputs: [{ name: 'output', dims: output, type }],
})

const problem = (f: () => unknown): string => {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(ModelShapeError)
    return (err as Error).message
  }
  throw new Error('expected a ModelShapeError')
}

describe('checkModelShape', () => {
  it('accepts YOLOX-Nano: [1, 3, 416, 416] in, [1, 3549, 85] out, 80 labels', () => {
    expect(yoloxAnchorRows(416, 416)).toBe(3549)
    expect(checkModelShape(model([1, 3, 416, 416], [1, 3549, 85]), 'yolox', 80)).toEqual({
      inputName: 'images',
      outputName: 'output',
      input: { width: 416, height: 416 },
    })
  })

  it('accepts YOLOv8: [1, 3, 640, 640] in, [1, 84, 8400] out, 80 labels', () => {
    expect(checkModelShape(model([1, 3, 640, 640], [1, 84, 8400]), 'yolov8', 80).input).toEqual({
      width: 640,
      height: 640,
    })
  })

  it('lets symbolic batch and anchor dimensions through (checked on the real output)', () => {
    expect(() =>
      checkModelShape(model(['batch', 3, 640, 640], ['batch', 84, 'anchors']), 'yolov8', 80),
    ).not.toThrow()
  })

  it('refuses a label count the output does not have', () => {
    expect(problem(() => checkModelShape(model([1, 3, 416, 416], [1, 3549, 85]), 'yolox', 3))).toMatch(
      /rows of 5 \+ 3 = 8/,
    )
    expect(problem(() => checkModelShape(model([1, 3, 640, 640], [1, 84, 8400]), 'yolov8', 2))).toMatch(
      /4 \+ 2 = 6 channels/,
    )
    expect(problem(() => checkModelShape(model([1, 3, 416, 416], [1, 3549, 85]), 'yolox', 0))).toMatch(
      /label list is empty/,
    )
  })

  it('refuses the other format, with a hint', () => {
    expect(problem(() => checkModelShape(model([1, 3, 416, 416], [1, 3549, 85]), 'yolov8', 80))).toMatch(
      /looks like a YOLOX output/,
    )
    expect(problem(() => checkModelShape(model([1, 3, 640, 640], [1, 84, 8400]), 'yolox', 80))).toMatch(
      /looks like a YOLOv8 output/,
    )
  })

  it('refuses a YOLOX output whose rows do not match the input size', () => {
    expect(problem(() => checkModelShape(model([1, 3, 640, 640], [1, 3549, 85]), 'yolox', 80))).toMatch(
      /640x640 input has 8400 rows/,
    )
  })

  it('refuses wrong ranks, channel counts, dynamic sizes, types and input counts', () => {
    expect(problem(() => checkModelShape(model([1, 3, 416, 416], [3549, 85]), 'yolox', 80))).toMatch(
      /not a YOLOX \[1, anchors, 5 \+ classes\] tensor/,
    )
    expect(problem(() => checkModelShape(model([3, 416, 416], [1, 3549, 85]), 'yolox', 80))).toMatch(
      /not an image batch/,
    )
    expect(problem(() => checkModelShape(model([1, 1, 416, 416], [1, 3549, 85]), 'yolox', 80))).toMatch(
      /not an image batch/,
    )
    expect(problem(() => checkModelShape(model([1, 3, 'h', 'w'], [1, 3549, 85]), 'yolox', 80))).toMatch(
      /size is not fixed/,
    )
    expect(
      problem(() => checkModelShape(model([1, 3, 416, 416], [1, 3549, 85], 'uint8'), 'yolox', 80)),
    ).toMatch(/not a float32 tensor/)
    const two: ModelMetadata = {
      inputs: [
        { name: 'a', dims: [1, 3, 416, 416] },
        { name: 'b', dims: [1] },
      ],
      outputs: [{ name: 'output', dims: [1, 3549, 85] }],
    }
    expect(problem(() => checkModelShape(two, 'yolox', 80))).toMatch(/one input, this model has 2: a, b/)
    expect(
      problem(() => checkModelShape({ ...two, inputs: two.inputs.slice(0, 1), outputs: [] }, 'yolox', 80)),
    ).toMatch(/no float32 tensor output/)
  })
})
