import { Worker } from 'node:worker_threads'
import type { Box, Detection, Frame } from '../types.ts'
import type { DetectorWorkerData, FromWorker, ToWorker } from './detector-worker.ts'
import type { ModelSpec } from './model-catalog.ts'
import { DetectorError, type DetectorErrorCode } from './onnx-detector.ts'

/**
 * An `OnnxDetector` running in a worker thread (detector-worker.ts), with the same `detect`:
 * onnxruntime-node computes `session.run` on the calling thread, so a detector on the agent's main
 * thread would stall RTSP, recording and live view for each inference and could never use a
 * second core. The frame is copied to the worker (a 640x360 frame is 345 KB, ~0.1 ms).
 *
 * The worker runs TypeScript through tsx, as the agent itself does (its entry is a small `.mjs`
 * that registers tsx: worker threads take no loader flags). If the worker dies, pending
 * and later calls fail with `inference_failed` and `dead` turns true; the pool replaces it.
 */
export class WorkerDetector {
  private readonly pending = new Map<
    number,
    { resolve: (d: Detection[]) => void; reject: (e: Error) => void }
  >()
  private nextId = 1
  private failure: DetectorError | undefined
  private closing: Promise<void> | undefined

  private constructor(
    private readonly worker: Worker,
    readonly inputSize: { width: number; height: number },
    readonly labels: readonly string[],
  ) {
    worker.on('message', (m: FromWorker) => {
      if (m.type !== 'result' && m.type !== 'error') return
      const call = this.pending.get(m.id)
      if (!call) return
      this.pending.delete(m.id)
      if (m.type === 'result') call.resolve(m.detections)
      else call.reject(new DetectorError(m.code as DetectorErrorCode, m.message))
    })
    const die = (why: string) => {
      this.failure ??= new DetectorError('inference_failed', `the detector thread stopped: ${why}`)
      for (const call of this.pending.values()) call.reject(this.failure)
      this.pending.clear()
    }
    worker.on('error', (err) => die(err.message))
    worker.on('exit', (code) => die(`exit code ${code}`))
  }

  /** Starts a worker with the model; rejects with the model's DetectorError when it does not load. */
  static load(spec: ModelSpec): Promise<WorkerDetector> {
    const data: DetectorWorkerData = { file: spec.file, format: spec.format, labels: [...spec.labels] }
    const worker = new Worker(new URL('./detector-worker-entry.mjs', import.meta.url), {
      workerData: data,
      // The worker's own heap holds a frame at a time and the model's tensors.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    })
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        void worker.terminate()
        reject(err)
      }
      worker.once('message', (m: FromWorker) => {
        if (m.type === 'ready') resolve(new WorkerDetector(worker, m.inputSize, m.labels))
        else if (m.type === 'load-error') fail(new DetectorError(m.code as DetectorErrorCode, m.message))
        else fail(new DetectorError('model_unreadable', 'the detector thread answered before it was ready'))
      })
      worker.once('error', (err) =>
        fail(new DetectorError('model_unreadable', `the detector thread failed: ${err.message}`)),
      )
    })
  }

  /** Whether the worker has stopped (crashed or closed): the pool replaces a dead detector. */
  get dead(): boolean {
    return this.failure !== undefined || this.closing !== undefined
  }

  detect(frame: Frame, region: Box, minScore: number): Promise<Detection[]> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.closing) return Promise.reject(new DetectorError('closed', 'the detector was closed'))
    const id = this.nextId++
    // A copy the worker owns (transferred, not copied again); the caller keeps its frame.
    const data = new Uint8Array(frame.data)
    const message: ToWorker = {
      type: 'detect',
      id,
      width: frame.width,
      height: frame.height,
      time: frame.time,
      data,
      region,
      minScore,
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage(message, [data.buffer as ArrayBuffer])
    })
  }

  /** Finishes the calls already made, then stops the worker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const waiting = [...this.pending.values()].map(
        (call) =>
          new Promise<void>((done) => {
            const { resolve, reject } = call
            call.resolve = (d) => {
              resolve(d)
              done()
            }
            call.reject = (e) => {
              reject(e)
              done()
            }
          }),
      )
      await Promise.all(waiting)
      const exited = new Promise<void>((r) => this.worker.once('exit', () => r()))
      this.worker.postMessage({ type: 'close' } satisfies ToWorker)
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())])
      await this.worker.terminate()
    })()
    return this.closing
  }
}
