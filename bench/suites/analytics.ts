import { existsSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { analyticsConfigSchema, COCO_LABELS } from '@ts-vms/shared'
import sharp from 'sharp'
import { letterbox } from '../../edge-agent/src/analytics/detect/letterbox.ts'
import { OnnxDetector } from '../../edge-agent/src/analytics/detect/onnx-detector.ts'
import { isBoxCoveredByRegions, planRegions } from '../../edge-agent/src/analytics/detect/regions.ts'
import { CameraAnalytics } from '../../edge-agent/src/analytics/pipeline/camera-analytics.ts'
import type { Box, Frame } from '../../edge-agent/src/analytics/types.ts'
import { seededRandom } from '../../edge-agent/test/helpers/seeded-random.ts'
import { rgbToFrame } from '../../edge-agent/test/helpers/yuv-frames.ts'
import type { BenchResult } from '../run.ts'
import { benchAnalyticsCapacity } from './analytics-capacity.ts'

/**
 * Edge analytics, two figures, with the real YOLOX-Nano model from ../shared (the product ships no
 * default model yet, so without it the suite is skipped):
 * - analytics-inference: the detector path the pipeline uses on one region of a 640x360 yuv420p
 *   frame (`OnnxDetector.detect`: letterbox + run + decode + NMS) against a bare `session.run`
 *   (`bareRun`) on the tensor that region's letterbox produced; medians of the same number of
 *   interleaved iterations after a warm-up, one onnxruntime thread (goal: ratio <= 1.15).
 * - analytics-motion-gate: frames through `CameraAnalytics` itself (MotionDetector, planRegions
 *   with the tracked objects, the real detector), the regions it asks the detector for recorded.
 *   On a static noisy grey scene, the share of frames with no inference (goal >= 95 %); on a clip
 *   of a person sliding across, the share of frames with the person in view whose pasted box lies
 *   inside a planned region (goal 100 %).
 * - analytics-capacity: cameras analysed in real time while recorded (goal >= 16), with CPU per
 *   camera by stage; see `analytics-capacity.ts`. Needs ffmpeg too.
 */
const WIDTH = 640
const HEIGHT = 360
/** 5 fps, the configured default rate. */
const FRAME_MS = 200
const START = Date.UTC(2026, 0, 1, 12)
const WARMUP = 10
const ITERATIONS = 100
const STATIC_FRAMES = 300
/** Frames with the person in view, sliding from the left edge to the right one. */
const PERSON_FRAMES = 40
const PERSON_HEIGHT = 160
const PERSON_TOP = 150
const BACKGROUND = 120

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const MODEL = path.resolve(repoRoot, '../shared/models/yolox_nano.onnx')
const PERSON = path.resolve(repoRoot, '../shared/media/person.png')

export async function benchAnalytics(): Promise<BenchResult[]> {
  if (!existsSync(MODEL) || !existsSync(PERSON)) {
    console.warn('analytics skipped: ../shared is absent (no model to measure)')
    return []
  }
  const detector = await OnnxDetector.load(MODEL, { format: 'yolox', threads: 1 })
  const results: BenchResult[] = []
  try {
    const person = await loadPerson()
    results.push(await benchInference(detector, person), ...(await benchMotionGate(detector, person)))
  } finally {
    await detector.close()
  }
  // After the others, with this detector closed: it loads its own pool, as the agent does.
  results.push(...(await benchAnalyticsCapacity()))
  return results
}

interface Photo {
  data: Buffer
  width: number
  height: number
}

async function loadPerson(): Promise<Photo> {
  const { data, info } = await sharp(PERSON)
    .removeAlpha()
    .resize({ height: PERSON_HEIGHT })
    .raw()
    .toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height }
}

/** A grey 640x360 frame with the photo pasted with its left edge at `left` (none when undefined). */
function personFrame(person: Photo, index: number, left?: number): { frame: Frame; box?: Box } {
  const rgb = Buffer.alloc(WIDTH * HEIGHT * 3, BACKGROUND)
  if (left === undefined)
    return { frame: { ...rgbToFrame(rgb, WIDTH, HEIGHT, 3), time: START + index * FRAME_MS } }
  for (let y = 0; y < person.height; y++) {
    const from = y * person.width * 3
    person.data.copy(rgb, ((PERSON_TOP + y) * WIDTH + left) * 3, from, from + person.width * 3)
  }
  return {
    frame: { ...rgbToFrame(rgb, WIDTH, HEIGHT, 3), time: START + index * FRAME_MS },
    box: { x1: left, y1: PERSON_TOP, x2: left + person.width, y2: PERSON_TOP + person.height },
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

async function benchInference(detector: OnnxDetector, person: Photo): Promise<BenchResult> {
  const { frame, box } = personFrame(person, 0, Math.round((WIDTH - person.width) / 2))
  const input = detector.inputSize
  // The region the pipeline would plan around the person moving there.
  const [region] = planRegions({
    frameWidth: WIDTH,
    frameHeight: HEIGHT,
    modelSize: Math.min(input.width, input.height),
    motion: [box!],
    tracked: [],
    frameIndex: 0,
  })
  if (!region) throw new Error('analytics bench: no region planned around the person')
  const tensor = letterbox(frame, region, input, detector.format).data
  const detectMs: number[] = []
  const bareMs: number[] = []
  let found = 0
  for (let i = 0; i < WARMUP + ITERATIONS; i++) {
    // Interleaved, so load from other work on the machine falls on both alike.
    let started = performance.now()
    const detections = await detector.detect(frame, region, 0.3)
    const detectTime = performance.now() - started
    started = performance.now()
    await detector.bareRun(tensor)
    const bareTime = performance.now() - started
    if (i < WARMUP) continue
    detectMs.push(detectTime)
    bareMs.push(bareTime)
    found = detections.filter((d) => d.label === 'person').length
  }
  const subject = median(detectMs)
  const reference = median(bareMs)
  const ratio = subject / reference
  const regionText = `${region.x2 - region.x1}x${region.y2 - region.y1}`
  return {
    name: 'analytics-inference',
    subject: { label: 'detect() on a region', opsPerSec: 1000 / subject },
    reference: { label: 'bare session.run', opsPerSec: 1000 / reference },
    ratio,
    line:
      `analytics-inference: detect() on a ${regionText} region of a ${WIDTH}x${HEIGHT} frame ${subject.toFixed(1)} ms ` +
      `vs bare session.run on its tensor ${reference.toFixed(1)} ms (medians of ${ITERATIONS}, ` +
      `${input.width}x${input.height} input, 1 thread, ${found} person found) -> ratio ${ratio.toFixed(2)}`,
    goals: [{ text: 'ratio <= 1.15', met: ratio <= 1.15 }],
  }
}

/** The pipeline as is, with the detector wrapped to record the regions it is asked to look at. */
function recordingPipeline(detector: OnnxDetector) {
  const regionsByTime = new Map<number, Box[]>()
  const analytics = new CameraAnalytics({
    cameraId: 'bench',
    config: analyticsConfigSchema(COCO_LABELS).parse({ enabled: true, fps: 1000 / FRAME_MS }),
    width: WIDTH,
    height: HEIGHT,
    detector: {
      inputSize: detector.inputSize,
      detect(frame, region, minScore) {
        const list = regionsByTime.get(frame.time) ?? []
        list.push({ ...region })
        regionsByTime.set(frame.time, list)
        return detector.detect(frame, region, minScore)
      },
    },
    saveSnapshot: async () => undefined,
    emit: () => undefined,
  })
  return { analytics, regionsAt: (time: number) => regionsByTime.get(time) ?? [] }
}

/** A grey yuv420p frame whose luma has mild noise (+-4 levels), as a still camera's sensor gives. */
function noisyGreyFrame(random: () => number, index: number): Frame {
  const data = Buffer.alloc((WIDTH * HEIGHT * 3) / 2, 128)
  for (let i = 0; i < WIDTH * HEIGHT; i++) data[i] = 124 + Math.floor(random() * 9)
  return { width: WIDTH, height: HEIGHT, data, time: START + index * FRAME_MS }
}

async function benchMotionGate(detector: OnnxDetector, person: Photo): Promise<BenchResult[]> {
  // Static scene: no inference wanted at all.
  const still = recordingPipeline(detector)
  const random = seededRandom(13)
  let skipped = 0
  for (let i = 0; i < STATIC_FRAMES; i++) {
    const frame = noisyGreyFrame(random, i)
    await still.analytics.process(frame)
    if (still.regionsAt(frame.time).length === 0) skipped++
  }
  await still.analytics.close()
  const skippedShare = skipped / STATIC_FRAMES

  // Sliding person: two empty frames (the motion detector learns the background), then the person
  // from the left edge to the right one.
  const walk = recordingPipeline(detector)
  let inView = 0
  let covered = 0
  const travel = WIDTH - person.width
  for (let i = 0; i < PERSON_FRAMES + 2; i++) {
    const left = i < 2 ? undefined : Math.round(((i - 2) * travel) / (PERSON_FRAMES - 1))
    const { frame, box } = personFrame(person, i, left)
    await walk.analytics.process(frame)
    if (!box) continue
    inView++
    if (isBoxCoveredByRegions(walk.regionsAt(frame.time), box)) covered++
  }
  await walk.analytics.close()
  const coveredShare = covered / inView

  return [
    {
      name: 'analytics-motion-gate-static',
      subject: { label: 'frames without inference (%)', opsPerSec: skippedShare * 100 },
      reference: { label: 'frames', opsPerSec: STATIC_FRAMES },
      ratio: skippedShare,
      line:
        `analytics-motion-gate: static noisy scene, ${(skippedShare * 100).toFixed(1)} % of frames ran no inference ` +
        `(${skipped} of ${STATIC_FRAMES} frames at 5 fps)`,
      goals: [{ text: '>= 95 % of frames without inference', met: skippedShare >= 0.95 }],
    },
    {
      name: 'analytics-motion-gate-person',
      subject: { label: 'person frames covered by a region (%)', opsPerSec: coveredShare * 100 },
      reference: { label: 'frames with the person in view', opsPerSec: inView },
      ratio: coveredShare,
      line:
        `analytics-motion-gate: sliding person (${person.width}x${person.height} px), ${(coveredShare * 100).toFixed(1)} % ` +
        `of frames with the person in view had the person's box inside a planned region (${covered} of ${inView} frames)`,
      goals: [{ text: '100 % of those frames covered', met: coveredShare === 1 }],
    },
  ]
}
