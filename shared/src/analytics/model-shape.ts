/**
 * Does an ONNX detection model fit the format and labels it is said to have? Checked on plain
 * metadata (tensor names and dimensions) so that both sides can ask: the hub when a model is
 * uploaded (it refuses one that would produce nonsense boxes on every agent) and the agent when
 * it loads one (the model it holds decides). Neither side trusts the other's answer.
 *
 * Symbolic dimensions (strings, e.g. a dynamic batch) pass where they may: the agent checks the
 * real output again on the first inference.
 */

export const MODEL_FORMATS = ['yolox', 'yolov8'] as const
export type ModelFormat = (typeof MODEL_FORMATS)[number]

/** One input or output of a model as a runtime describes it. */
export interface ModelTensorInfo {
  name: string
  dims: ReadonlyArray<number | string>
  /** The element type ('float32'); absent: not known, not checked. Not a tensor: anything else. */
  type?: string | undefined
}

export interface ModelMetadata {
  inputs: readonly ModelTensorInfo[]
  outputs: readonly ModelTensorInfo[]
}

/** Where a model's tensors are and its input size, once it is known to fit. */
export interface ModelShape {
  inputName: string
  outputName: string
  input: { width: number; height: number }
}

export class ModelShapeError extends Error {
  override readonly name = 'ModelShapeError'
}

/** YOLOX's detection heads, finest first (8, 16, 32); each stride-2 convolution rounds up. */
export function yoloxAnchorRows(inputWidth: number, inputHeight: number): number {
  return [8, 16, 32].reduce(
    (n, stride) => n + Math.ceil(inputWidth / stride) * Math.ceil(inputHeight / stride),
    0,
  )
}

/**
 * The input name and size and the output name of a model that fits `format` with `classes`
 * labels; a ModelShapeError saying what does not fit otherwise.
 */
export function checkModelShape(meta: ModelMetadata, format: ModelFormat, classes: number): ModelShape {
  if (!(Number.isInteger(classes) && classes >= 1)) throw new ModelShapeError('the label list is empty')
  const { inputs } = meta
  if (inputs.length !== 1) {
    throw new ModelShapeError(
      `a YOLO detector has one input, this model has ${inputs.length}: ${inputs.map((i) => i.name).join(', ')}`,
    )
  }
  const input = inputs[0]!
  if (input.type !== undefined && input.type !== 'float32') {
    throw new ModelShapeError(`input ${input.name} is not a float32 tensor`)
  }
  const [batch, channels, height, width] = input.dims
  const inputShape = `[${input.dims.join(', ')}]`
  if (input.dims.length !== 4 || channels !== 3 || (typeof batch === 'number' && batch !== 1)) {
    throw new ModelShapeError(`input ${input.name} is ${inputShape}, not an image batch [1, 3, H, W]`)
  }
  if (!isSize(width) || !isSize(height)) {
    throw new ModelShapeError(
      `input ${input.name} is ${inputShape}: its size is not fixed; export the model with a fixed input size`,
    )
  }
  const output = meta.outputs[0]
  if (!output || (output.type !== undefined && output.type !== 'float32')) {
    throw new ModelShapeError('the model has no float32 tensor output')
  }
  const problem = modelOutputProblem(output.dims, format, classes, { width, height })
  if (problem) throw new ModelShapeError(problem)
  return { inputName: input.name, outputName: output.name, input: { width, height } }
}

/**
 * Why an output shape does not fit the format and label count, or undefined when it does.
 * Symbolic dimensions (strings) pass: they are checked again on the real output.
 */
export function modelOutputProblem(
  dims: ReadonlyArray<number | string>,
  format: ModelFormat,
  classes: number,
  input: { width: number; height: number },
): string | undefined {
  const text = `[${dims.join(', ')}]`
  if (dims.length !== 3 || (typeof dims[0] === 'number' && dims[0] !== 1)) {
    return `output is ${text}, not a ${format === 'yolox' ? 'YOLOX [1, anchors, 5 + classes]' : 'YOLOv8 [1, 4 + classes, anchors]'} tensor`
  }
  const [, d1, d2] = dims
  const differs = (d: number | string | undefined, want: number) => typeof d === 'number' && d !== want
  if (format === 'yolox') {
    const anchors = yoloxAnchorRows(input.width, input.height)
    if (differs(d2, 5 + classes)) {
      const hint = d1 === 4 + classes ? ' (it looks like a YOLOv8 output: is the format yolov8?)' : ''
      return `output is ${text}: a YOLOX model with ${classes} labels has rows of 5 + ${classes} = ${5 + classes}${hint}`
    }
    if (differs(d1, anchors)) {
      return `output is ${text}: a YOLOX model of a ${input.width}x${input.height} input has ${anchors} rows (strides 8, 16, 32)`
    }
  } else if (differs(d1, 4 + classes)) {
    const hint = d2 === 5 + classes ? ' (it looks like a YOLOX output: is the format yolox?)' : ''
    return `output is ${text}: a YOLOv8 model with ${classes} labels has 4 + ${classes} = ${4 + classes} channels${hint}`
  }
  return undefined
}

function isSize(d: number | string | undefined): d is number {
  return typeof d === 'number' && Number.isInteger(d) && d > 0
}
