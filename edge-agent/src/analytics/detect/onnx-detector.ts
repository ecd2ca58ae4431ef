/**
 * An object detector running a YOLOX or Ultralytics YOLOv8/YOLO11 ONNX model on the CPU with
 * onnxruntime-node: letterbox a frame region, run, decode, NMS, map boxes back to the frame.
 *
 * The model's input name and size come from the model itself; its output shape is checked against
 * the configured format and labels when it loads, so a wrong configuration fails at start-up with
 * a clear message instead of producing nonsense boxes. Every error this module throws is a
 * DetectorError with a code.
 */
import { COCO_LABELS, checkModelShape, ModelShapeError, modelOutputProblem } from '@ts-vms/shared'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import type { Box, Detection, Frame } from '../types.ts'
import { type InputSize, type Letterboxed, letterbox } from './letterbox.ts'
import { DEFAULT_IOU_THRESHOLD } from './nms.ts'
import { decodeYoloOutput, type YoloFormat } from './yolo-output.ts'

export type DetectorErrorCode =
  /** The model file is missing or is not a model onnxruntime can load. */
  | 'model_unreadable'
  /** The model loads but its inputs or outputs do not fit the configured format and labels. */
  | 'model_shape'
  /** The frame, region or score threshold handed to detect() is unusable. */
  | 'bad_input'
  /** onnxruntime failed while running the model. */
  | 'inference_failed'
  /** The detector was closed. */
  | 'closed'

export class DetectorError extends Error {
  override readonly name = 'DetectorError'
  constructor(
    readonly code: DetectorErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

export interface OnnxDetectorOptions {
  format: YoloFormat
  /** Class names in the model's order; COCO's 80 by default. */
  labels?: readonly string[]
  /**
   * Threads one inference may use (default 1). onnxruntime's default is a pool as large as the
   * machine's cores, whose threads spin while waiting for work. The agent runs a detector per
   * camera: with the default, every camera would claim every core and they would fight each other
   * and the decoders and recorder. One thread each keeps one camera's cost to one core and scales
   * by adding cameras; raise it only for a site with few cameras that wants lower latency.
   */
  threads?: number
  /** Class-wise NMS threshold (default 0.45). */
  iouThreshold?: number
}

/** Where the model's tensors are and what they look like, as read from the session. */
interface ModelShape {
  inputName: string
  outputName: string
  input: InputSize
}

export class OnnxDetector {
  /** The reused input tensor: detect() calls are serialised, so one buffer serves them all. */
  private readonly tensorData: Float32Array
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  private constructor(
    private readonly session: InferenceSession,
    readonly format: YoloFormat,
    readonly labels: readonly string[],
    private readonly shape: ModelShape,
    private readonly iouThreshold: number,
  ) {
    this.tensorData = new Float32Array(3 * shape.input.width * shape.input.height)
  }

  /** Load a model from a file path or its bytes and check it fits `o.format` and the labels. */
  static async load(model: string | Uint8Array, o: OnnxDetectorOptions): Promise<OnnxDetector> {
    const labels = o.labels ?? COCO_LABELS
    if (labels.length === 0) throw new DetectorError('model_shape', 'the label list is empty')
    const threads = o.threads ?? 1
    if (!(Number.isInteger(threads) && threads >= 1)) {
      throw new DetectorError('bad_input', `threads must be a positive whole number, not ${threads}`)
    }
    const iouThreshold = o.iouThreshold ?? DEFAULT_IOU_THRESHOLD
    if (!(iouThreshold > 0 && iouThreshold <= 1)) {
      throw new DetectorError('bad_input', `iouThreshold must be in (0, 1], not ${iouThreshold}`)
    }
    const options: InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      // A YOLO graph is one chain of operators: parallel branches would only add threads.
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    }
    let session: InferenceSession
    try {
      session =
        typeof model === 'string'
          ? await InferenceSession.create(model, options)
          : await InferenceSession.create(model, options)
    } catch (err) {
      const what = typeof model === 'string' ? model : `of ${model.length} bytes`
      throw new DetectorError('model_unreadable', `cannot load the model ${what}: ${messageOf(err)}`, {
        cause: err,
      })
    }
    try {
      const shape = readModelShape(session, o.format, labels.length)
      return new OnnxDetector(session, o.format, Object.freeze([...labels]), shape, iouThreshold)
    } catch (err) {
      await session.release().catch(() => undefined)
      throw err
    }
  }

  /** The model's input size in pixels (what a region is scaled to fit). */
  get inputSize(): InputSize {
    return { width: this.shape.input.width, height: this.shape.input.height }
  }

  /**
   * Objects in `region` of `frame` scoring at least `minScore`, best first, boxes in frame pixels
   * (clamped to the frame). Calls are run one at a time in call order.
   */
  detect(frame: Frame, region: Box, minScore = 0.3): Promise<Detection[]> {
    // Checked at the call, not when its turn comes: calls made before close() still complete.
    if (this.closed) return Promise.reject(closedError())
    return this.serialised(async () => {
      if (!(minScore >= 0 && minScore <= 1)) {
        throw new DetectorError('bad_input', `minScore must be in [0, 1], not ${minScore}`)
      }
      let boxed: Letterboxed
      try {
        boxed = letterbox(frame, region, this.shape.input, this.format, this.tensorData)
      } catch (err) {
        throw new DetectorError('bad_input', messageOf(err), { cause: err })
      }
      const output = await this.run(boxed.data)
      const candidates = decodeYoloOutput(
        this.format,
        output,
        {
          inputWidth: this.shape.input.width,
          inputHeight: this.shape.input.height,
          classes: this.labels.length,
        },
        { minScore, iouThreshold: this.iouThreshold },
      )
      const detections: Detection[] = []
      for (const c of candidates) {
        const box = boxed.toFrame(c.box)
        // A box wholly in the padding or outside the frame has nothing left after clamping.
        if (box.x2 <= box.x1 || box.y2 <= box.y1) continue
        detections.push({ box, score: c.score, classId: c.classId, label: this.labels[c.classId]! })
      }
      return detections
    })
  }

  /**
   * Bare `session.run` on a ready input tensor (CHW float32 of the input size, e.g. from
   * `letterbox(frame, region, detector.inputSize, detector.format)`), returning the raw output:
   * the baseline that benchmarks compare detect() against. Not serialised with detect().
   */
  async bareRun(tensorData: Float32Array): Promise<Float32Array> {
    if (this.closed) throw closedError()
    const { width, height } = this.shape.input
    if (tensorData.length !== 3 * width * height) {
      throw new DetectorError(
        'bad_input',
        `tensor holds ${tensorData.length} values, not 3x${height}x${width}`,
      )
    }
    return (await this.runSession(tensorData)).data as Float32Array
  }

  /** Release the model once pending detections have finished; later calls fail with `closed`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.queue
    try {
      await this.session.release()
    } catch (err) {
      throw new DetectorError('inference_failed', `releasing the model failed: ${messageOf(err)}`, {
        cause: err,
      })
    }
  }

  /** Run the model and check the output fits the format (symbolic dimensions are only known now). */
  private async run(tensorData: Float32Array): Promise<Float32Array> {
    const output = await this.runSession(tensorData)
    if (!(output.data instanceof Float32Array)) {
      throw new DetectorError('model_shape', `output ${this.shape.outputName} is not a float32 tensor`)
    }
    const problem = modelOutputProblem(output.dims, this.format, this.labels.length, this.shape.input)
    if (problem) throw new DetectorError('model_shape', problem)
    return output.data
  }

  private async runSession(tensorData: Float32Array): Promise<Tensor> {
    const { width, height } = this.shape.input
    let output: Tensor | undefined
    try {
      const input = new Tensor('float32', tensorData, [1, 3, height, width])
      const results = await this.session.run({ [this.shape.inputName]: input })
      output = results[this.shape.outputName] as Tensor | undefined
    } catch (err) {
      throw new DetectorError('inference_failed', messageOf(err), { cause: err })
    }
    if (!output) throw new DetectorError('model_shape', `the model gave no output ${this.shape.outputName}`)
    return output
  }

  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task)
    this.queue = result.catch(() => undefined)
    return result
  }
}

/**
 * The input name and size and the output name, checked against the format and label count by the
 * check the hub also runs when a model is uploaded (shared/src/analytics/model-shape.ts).
 */
function readModelShape(session: InferenceSession, format: YoloFormat, classes: number): ModelShape {
  const describe = (m: InferenceSession.ValueMetadata) => ({
    name: m.name,
    dims: m.isTensor ? m.shape : [],
    type: m.isTensor ? m.type : 'not a tensor',
  })
  try {
    return checkModelShape(
      { inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) },
      format,
      classes,
    )
  } catch (err) {
    if (err instanceof ModelShapeError) throw new DetectorError('model_shape', err.message, { cause: err })
    throw err
  }
}

function closedError(): DetectorError {
  return new DetectorError('closed', 'the detector is closed')
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
