import type { Box, Detection, Frame } from '../types.ts'
import type { ModelSpec } from './model-catalog.ts'
import { OnnxDetector } from './onnx-detector.ts'

/**
 * The detectors of one model, shared by every camera that runs it. An `OnnxDetector` runs one
 * inference at a time on one thread; one per camera would cost a session (and its memory) per
 * camera, and one for all would use one core. The pool holds up to `size` (the cores, by default)
 * and hands each call to the least busy, opening another only while all are busy: a site with one
 * camera loads one session, a busy site uses every core.
 */
export interface PooledDetector {
  readonly inputSize: { width: number; height: number }
  readonly labels: readonly string[]
  detect(frame: Frame, region: Box, minScore: number): Promise<Detection[]>
}

type Loader = (spec: ModelSpec) => Promise<OnnxDetector>
const loadOnnx: Loader = (spec) => OnnxDetector.load(spec.file, { format: spec.format, labels: spec.labels })

export class DetectorPool implements PooledDetector {
  private readonly members: { detector: OnnxDetector; busy: number }[] = []
  private opening: Promise<void> | undefined
  private closed = false

  private constructor(
    readonly spec: ModelSpec,
    private readonly size: number,
    first: OnnxDetector,
    private readonly load: Loader,
  ) {
    this.members.push({ detector: first, busy: 0 })
  }

  /** Loads the first detector (so a model that fails, fails here) and returns the pool. */
  static async open(spec: ModelSpec, size: number, load: Loader = loadOnnx): Promise<DetectorPool> {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`pool size must be ≥ 1, not ${size}`)
    return new DetectorPool(spec, size, await load(spec), load)
  }

  get inputSize() {
    return this.members[0]!.detector.inputSize
  }

  get labels() {
    return this.members[0]!.detector.labels
  }

  /** Detectors loaded so far. */
  get loaded(): number {
    return this.members.length
  }

  async detect(frame: Frame, region: Box, minScore: number): Promise<Detection[]> {
    let member = this.members.reduce((a, b) => (b.busy < a.busy ? b : a))
    if (member.busy > 0 && this.members.length < this.size && !this.opening && !this.closed) {
      // Every detector is busy: open one more in the background for the calls to come.
      this.opening = this.load(this.spec)
        .then((detector) => {
          if (this.closed) void detector.close()
          else this.members.push({ detector, busy: 0 })
        })
        .catch(() => undefined) // the first one loaded: a second failing is memory, not the model
        .finally(() => {
          this.opening = undefined
        })
    }
    member = this.members.reduce((a, b) => (b.busy < a.busy ? b : a))
    member.busy++
    try {
      return await member.detector.detect(frame, region, minScore)
    } finally {
      member.busy--
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.opening
    await Promise.all(this.members.map((m) => m.detector.close().catch(() => undefined)))
  }
}
