import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { COCO_LABELS } from '@ts-vms/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { photoFrame } from '../../../test/helpers/yuv-frames.ts'
import type { Frame } from '../types.ts'
import { DetectorError } from './onnx-detector.ts'
import { WorkerDetector } from './worker-detector.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const MODEL = path.resolve(repoRoot, '../shared/models/yolox_nano.onnx')
const PERSON = path.resolve(repoRoot, '../shared/media/person.png')
const haveShared = existsSync(MODEL) && existsSync(PERSON)
if (!haveShared) console.warn(`SKIPPING WorkerDetector tests: ${MODEL} or ${PERSON} is absent`)

describe.skipIf(!haveShared)('WorkerDetector', () => {
  let detector: WorkerDetector
  let frame: Frame
  beforeAll(async () => {
    detector = await WorkerDetector.load({ id: 'default', file: MODEL, format: 'yolox', labels: COCO_LABELS })
    frame = await photoFrame(PERSON)
  }, 30_000)
  afterAll(async () => {
    await detector?.close()
  })

  it('finds the person from its own thread, leaving the caller its frame', async () => {
    const before = Buffer.from(frame.data)
    const found = await detector.detect(frame, { x1: 0, y1: 0, x2: frame.width, y2: frame.height }, 0.5)
    expect(found.some((d) => d.label === 'person' && d.score > 0.8)).toBe(true)
    expect(frame.data.equals(before)).toBe(true)
    expect(detector.inputSize).toEqual({ width: 416, height: 416 })
  })

  it('keeps the calling thread free while it computes', async () => {
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const started = performance.now()
    for (let i = 0; i < 10; i++)
      await detector.detect(frame, { x1: 0, y1: 0, x2: frame.width, y2: frame.height }, 0.5)
    const elapsed = performance.now() - started
    clearInterval(timer)
    // On the calling thread the loop would tick about once per inference (10); here it keeps
    // ticking through them. Loose, so a loaded machine cannot fail it.
    expect(ticks).toBeGreaterThan(Math.min(30, elapsed / 5))
  })

  it('answers bad input with the detector error, and fails to load a file that is no model', async () => {
    await expect(detector.detect(frame, { x1: 5, y1: 5, x2: 5, y2: 5 }, 0.5)).rejects.toMatchObject({
      code: 'bad_input',
    })
    await expect(
      WorkerDetector.load({ id: 'x', file: PERSON, format: 'yolox', labels: COCO_LABELS }),
    ).rejects.toBeInstanceOf(DetectorError)
  })
})
