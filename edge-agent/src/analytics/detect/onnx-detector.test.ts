import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { photoFrame } from '../../../test/helpers/yuv-frames.ts'
import type { Box, Detection, Frame } from '../types.ts'
import { letterbox } from './letterbox.ts'
import { iou } from './nms.ts'
import { DetectorError, OnnxDetector } from './onnx-detector.ts'

/** The real model and photos live beside the repository (../shared), never in it. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const MODEL = path.resolve(repoRoot, '../shared/models/yolox_nano.onnx')
const PERSON = path.resolve(repoRoot, '../shared/media/person.png')
const DOG = path.resolve(repoRoot, '../shared/media/dog.jpg')
const haveShared = [MODEL, PERSON, DOG].every((f) => existsSync(f))
if (!haveShared) console.warn(`SKIPPING real-model detection tests: ${MODEL} or its photos are absent`)

const wholeFrame = (f: Frame): Box => ({ x1: 0, y1: 0, x2: f.width, y2: f.height })
const best = (found: Detection[], label: string) => found.find((d) => d.label === label)

async function expectDetectorError(p: Promise<unknown>, code: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(DetectorError)
  expect((err as DetectorError).code).toBe(code)
  return err as DetectorError
}

describe('OnnxDetector loading', () => {
  it('fails with model_unreadable on bytes that are not a model', async () => {
    await expectDetectorError(
      OnnxDetector.load(new TextEncoder().encode('not an onnx model at all'), { format: 'yolox' }),
      'model_unreadable',
    )
  })

  it('fails with model_unreadable on a missing file, naming it', async () => {
    const err = await expectDetectorError(
      OnnxDetector.load('/nonexistent/model.onnx', { format: 'yolox' }),
      'model_unreadable',
    )
    expect(err.message).toContain('/nonexistent/model.onnx')
  })
})

describe.skipIf(!haveShared)('OnnxDetector with YOLOX-Nano', () => {
  let detector: OnnxDetector
  let person: Frame
  let dog: Frame

  beforeAll(async () => {
    detector = await OnnxDetector.load(MODEL, { format: 'yolox' })
    person = await photoFrame(PERSON)
    dog = await photoFrame(DOG)
  })
  afterAll(async () => {
    await detector?.close()
  })

  it('reads the input size from the model', () => {
    expect(detector.inputSize).toEqual({ width: 416, height: 416 })
    expect(detector.labels).toHaveLength(80)
  })

  it('finds the person in person.png', async () => {
    const found = await detector.detect(person, wholeFrame(person))
    const p = best(found, 'person')
    expect(p?.score).toBeGreaterThanOrEqual(0.5)
    expect(p?.classId).toBe(0)
    // A head-and-shoulders portrait: a large box around the face (near 435, 390).
    const box = p!.box
    expect(box.x1).toBeLessThan(435)
    expect(box.x2).toBeGreaterThan(435)
    expect(box.y1).toBeLessThan(390)
    expect(box.y2).toBeGreaterThan(390)
    expect((box.x2 - box.x1) * (box.y2 - box.y1)).toBeGreaterThan(0.4 * person.width * person.height)
    expect(box.x1).toBeGreaterThanOrEqual(0)
    expect(box.y2).toBeLessThanOrEqual(person.height)
  })

  it('finds the dog and the bicycle in dog.jpg, best first', async () => {
    const found = await detector.detect(dog, wholeFrame(dog))
    expect(best(found, 'dog')?.score).toBeGreaterThanOrEqual(0.5)
    expect(best(found, 'bicycle')?.score).toBeGreaterThanOrEqual(0.5)
    const scores = found.map((d) => d.score)
    expect(scores).toEqual([...scores].sort((a, b) => b - a))
    expect(found.every((d) => d.score >= 0.3)).toBe(true)
  })

  it('maps detections in a region back to frame pixels', async () => {
    const whole = best(await detector.detect(dog, wholeFrame(dog)), 'dog')!.box
    // A region around the dog, away from the origin: it is scaled up and anchored top-left.
    const region = { x1: whole.x1 - 40, y1: whole.y1 - 30, x2: whole.x2 + 40, y2: dog.height }
    const inRegion = best(await detector.detect(dog, region), 'dog')
    expect(inRegion?.score).toBeGreaterThanOrEqual(0.5)
    expect(iou(inRegion!.box, whole)).toBeGreaterThan(0.85)
  })

  it('serialises concurrent calls on its one tensor buffer', async () => {
    const alone = [
      await detector.detect(dog, wholeFrame(dog)),
      await detector.detect(person, wholeFrame(person)),
    ]
    const together = await Promise.all([
      detector.detect(dog, wholeFrame(dog)),
      detector.detect(person, wholeFrame(person)),
    ])
    expect(together).toEqual(alone)
  })

  it('offers a bare run of the model on a ready tensor', async () => {
    const { data } = letterbox(dog, wholeFrame(dog), detector.inputSize, detector.format)
    const output = await detector.bareRun(data)
    expect(output).toHaveLength(3549 * 85)
    await expectDetectorError(detector.bareRun(new Float32Array(12)), 'bad_input')
  })

  it('refuses a region outside the frame and a score out of range with bad_input', async () => {
    await expectDetectorError(detector.detect(dog, { x1: 900, y1: 0, x2: 1000, y2: 100 }), 'bad_input')
    await expectDetectorError(detector.detect(dog, wholeFrame(dog), 1.5), 'bad_input')
  })

  it('fails with model_shape when the model does not fit the format or the labels', async () => {
    const asYolov8 = await expectDetectorError(OnnxDetector.load(MODEL, { format: 'yolov8' }), 'model_shape')
    expect(asYolov8.message).toMatch(/\[1, 3549, 85\].*4 \+ 80 = 84.*yolox/)
    const fewLabels = await expectDetectorError(
      OnnxDetector.load(MODEL, { format: 'yolox', labels: ['person', 'bicycle', 'car'] }),
      'model_shape',
    )
    expect(fewLabels.message).toContain('5 + 3 = 8')
    await expectDetectorError(OnnxDetector.load(MODEL, { format: 'yolox', labels: [] }), 'model_shape')
  })

  it('loads from bytes, and once closed refuses work with closed', async () => {
    const fromBytes = await OnnxDetector.load(readFileSync(MODEL), { format: 'yolox' })
    const pending = fromBytes.detect(person, wholeFrame(person))
    await fromBytes.close()
    // Called before close(): it completes.
    expect(best(await pending, 'person')?.score).toBeGreaterThanOrEqual(0.5)
    await expectDetectorError(fromBytes.detect(person, wholeFrame(person)), 'closed')
    await fromBytes.close()
  })
})
