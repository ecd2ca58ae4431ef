/**
 * A detector in its own thread (see worker-detector.ts): loads the model it is given and answers
 * detection requests, one at a time, in order. onnxruntime-node's `session.run` computes on the
 * calling thread, so on the agent's main thread every inference stalls RTSP, recording and live
 * view for its 10-20 ms; here it stalls nothing, and each worker is a core.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { Box } from '../types.ts'
import { DetectorError, OnnxDetector } from './onnx-detector.ts'
import type { YoloFormat } from './yolo-output.ts'

export interface DetectorWorkerData {
  file: string
  format: YoloFormat
  labels: readonly string[]
}

export type ToWorker =
  | {
      type: 'detect'
      id: number
      width: number
      height: number
      time: number
      data: Uint8Array
      region: Box
      minScore: number
    }
  | { type: 'close' }

export type FromWorker =
  | { type: 'ready'; inputSize: { width: number; height: number }; labels: string[] }
  | { type: 'load-error'; code: string; message: string }
  | { type: 'result'; id: number; detections: Awaited<ReturnType<OnnxDetector['detect']>> }
  | { type: 'error'; id: number; code: string; message: string }

const port = parentPort
if (!port) throw new Error('detector-worker.ts runs as a worker thread')
const { file, format, labels } = workerData as DetectorWorkerData
const post = (m: FromWorker) => port.postMessage(m)

let detector: OnnxDetector | undefined
try {
  detector = await OnnxDetector.load(file, { format, labels })
  post({ type: 'ready', inputSize: detector.inputSize, labels: [...detector.labels] })
} catch (err) {
  post({
    type: 'load-error',
    code: err instanceof DetectorError ? err.code : 'model_unreadable',
    message: (err as Error).message,
  })
  port.close()
}

port.on('message', (m: ToWorker) => {
  if (!detector) return
  if (m.type === 'close') {
    const d = detector
    detector = undefined
    void d.close().finally(() => port.close())
    return
  }
  const frame = {
    width: m.width,
    height: m.height,
    time: m.time,
    data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
  }
  detector.detect(frame, m.region, m.minScore).then(
    (detections) => post({ type: 'result', id: m.id, detections }),
    (err: unknown) =>
      post({
        type: 'error',
        id: m.id,
        code: err instanceof DetectorError ? err.code : 'inference_failed',
        message: (err as Error).message,
      }),
  )
})
