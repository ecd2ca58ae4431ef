import type { Box, Detection, Frame } from '../types.ts'
import type { ModelSpec } from './model-catalog.ts'
import { WorkerDetector } from './worker-detector.ts'

/**
 * The detectors of one model, shared by every camera that runs it. Each detector is a worker
 * thread with its own onnxruntime session (see worker-detector.ts) running one inference at a
 * time on one core; one per camera would cost a session (and its memory) per camera, and one for
 * all would use one core. The pool holds up to `size` (the cores, by default) and hands each call
 * to the least busy, opening another only while all are busy: a site with one camera loads one
 * session, a busy site uses every core. A detector whose thread died is dropped and replaced.
 */
export interface PooledDetector {
  readonly inputSize: { width: number; height: number }
  readonly labels: readonly string[]
  detect(frame: Frame, region: Box, minScore: number): Promise<Detection[]>
}

/** What the pool needs of one detector (a WorkerDetector; tests hand in fakes). */
export interface PoolMember {
  readonly inputSize: { width: number; height: number }
  readonly labels: readonly string[]
  /** True once it can serve no more calls (its thread died). */
  readonly dead?: boolean
  detect(frame: Frame, region: Box, minScore: number): Promise<Detection[]>
  close(): Promise<void>
}

type Loader = (spec: ModelSpec) => Promise<PoolMember>
const loadWorker: Loader = (spec) => WorkerDetector.load(spec)

export class DetectorPool implements PooledDetector {
  private readonly members: { detector: PoolMember; busy: number }[] = []
  private opening: Promise<void> | undefined
  private closed = false

  private constructor(
    readonly spec: ModelSpec,
    private readonly size: number,
    first: PoolMember,
    private readonly load: Loader,
  ) {
    this.members.push({ detector: first, busy: 0 })
  }

  /** Loads the first detector (so a model that fails, fails here) and returns the pool. */
  static async open(spec: ModelSpec, size: number, load: Loader = loadWorker): Promise<DetectorPool> {
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
    // A dead detector (its thread crashed) leaves; the first call after opens its replacement.
    for (let i = this.members.length - 1; i >= 0; i--) {
      const m = this.members[i]!
      if (m.detector.dead && this.members.length > 1) {
        this.members.splice(i, 1)
        void m.detector.close().catch(() => undefined)
      }
    }
    let member = this.members.reduce((a, b) => (b.busy < a.busy ? b : a))
    const allBusyOrDead = member.busy > 0 || member.detector.dead === true
    if (
      allBusyOrDead &&
      this.members.length < this.size + (member.detector.dead ? 1 : 0) &&
      !this.opening &&
      !this.closed
    ) {
      // Every detector is busy: open one more in the background for the calls to come.
      this.opening = this.load(this.spec)
        .then((detector) => {
          if (this.closed) void detector.close()
          else {
            this.members.push({ detector, busy: 0 })
            // The last one standing was dead: the new one takes its place.
            const dead = this.members.findIndex((m) => m.detector.dead)
            if (dead !== -1 && this.members.length > 1)
              void this.members
                .splice(dead, 1)[0]
                ?.detector.close()
                .catch(() => undefined)
          }
        })
        .catch(() => undefined) // the first one loaded: a second failing is memory, not the model
        .finally(() => {
          this.opening = undefined
        })
    }
    const alive = this.members.filter((m) => !m.detector.dead)
    member = (alive.length > 0 ? alive : this.members).reduce((a, b) => (b.busy < a.busy ? b : a))
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
