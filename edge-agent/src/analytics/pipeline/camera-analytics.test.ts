import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type AnalyticsConfigInput, analyticsConfigSchema, COCO_LABELS } from '@ts-vms/shared'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { rgbToFrame } from '../../../test/helpers/yuv-frames.ts'
import { OnnxDetector } from '../detect/onnx-detector.ts'
import type { ObjectEventChange } from '../events/object-events.ts'
import type { Box, Detection, Frame } from '../types.ts'
import { CameraAnalytics, type CameraAnalyticsOptions, type RegionDetector } from './camera-analytics.ts'

const WIDTH = 640
const HEIGHT = 360
/** 5 fps, the configured default rate. */
const FRAME_MS = 200
const START = Date.UTC(2026, 0, 1, 12)
const GREY = 128
const WHITE = 235
/** The moving square: 60 px, its top at y 150 (bottom-centre at y 210, the lower middle). */
const SIDE = 60
const TOP = 150

const config = (input: AnalyticsConfigInput = {}) =>
  analyticsConfigSchema(COCO_LABELS).parse({ enabled: true, ...input })

/** A grey yuv420p frame, optionally with a white square whose left edge is at `squareX`. */
function squareFrame(index: number, squareX?: number): Frame {
  const data = Buffer.alloc((WIDTH * HEIGHT * 3) / 2, GREY)
  if (squareX !== undefined) {
    for (let y = TOP; y < TOP + SIDE; y++) data.fill(WHITE, y * WIDTH + squareX, y * WIDTH + squareX + SIDE)
  }
  return { width: WIDTH, height: HEIGHT, data, time: START + index * FRAME_MS }
}

/** The bounding box of the white pixels of a frame's luma, or undefined when there are none. */
function brightBox(frame: Frame): Box | undefined {
  let box: Box | undefined
  for (let y = 0; y < frame.height; y++) {
    for (let x = 0; x < frame.width; x++) {
      if (frame.data[y * frame.width + x]! < 200) continue
      if (!box) box = { x1: x, y1: y, x2: x + 1, y2: y + 1 }
      else {
        box.x1 = Math.min(box.x1, x)
        box.y1 = Math.min(box.y1, y)
        box.x2 = Math.max(box.x2, x + 1)
        box.y2 = Math.max(box.y2, y + 1)
      }
    }
  }
  return box
}

/**
 * Stands in for the model: finds the white square by its pixels and reports it as `label` when it
 * lies wholly inside the region looked at (a region is planned around what it is for).
 */
class SquareDetector implements RegionDetector {
  readonly inputSize = { width: 416, height: 416 }
  readonly regions: Box[] = []
  constructor(private readonly label = 'person') {}
  async detect(frame: Frame, region: Box): Promise<Detection[]> {
    this.regions.push(region)
    const box = brightBox(frame)
    if (!box || box.x1 < region.x1 || box.y1 < region.y1 || box.x2 > region.x2 || box.y2 > region.y2) {
      return []
    }
    return [{ box, score: 0.9, classId: COCO_LABELS.indexOf(this.label), label: this.label }]
  }
}

interface Harness {
  analytics: CameraAnalytics
  changes: ObjectEventChange[]
  snapshots: { eventId: string; jpeg: Buffer; frameTime: number }[]
  warn: ReturnType<typeof vi.fn>
}

function harness(
  detector: RegionDetector,
  input: AnalyticsConfigInput = {},
  saveSnapshot?: (eventId: string, jpeg: Buffer, frameTime: number) => Promise<void>,
  extra: Pick<CameraAnalyticsOptions, 'deviceMotion' | 'motionBucketMs'> = {},
): Harness {
  const changes: ObjectEventChange[] = []
  const snapshots: Harness['snapshots'] = []
  const warn = vi.fn()
  const analytics = new CameraAnalytics({
    cameraId: 'cam-1',
    config: config(input),
    width: WIDTH,
    height: HEIGHT,
    detector,
    saveSnapshot:
      saveSnapshot ??
      (async (eventId, jpeg, frameTime) => {
        snapshots.push({ eventId, jpeg, frameTime })
      }),
    emit: (change) => changes.push(change),
    logger: { warn } as never,
    ...extra,
  })
  return { analytics, changes, snapshots, warn }
}

const LEFT_HALF: [number, number][] = [
  [0, 0],
  [0.5, 0],
  [0.5, 1],
  [0, 1],
]
const RIGHT_HALF: [number, number][] = [
  [0.5, 0],
  [1, 0],
  [1, 1],
  [0.5, 1],
]

/** Long enough for the tracker to call the square stationary (2 s once its velocity settles). */
const STILL_FRAMES = 25

/**
 * The clip: 3 empty frames (the motion detector learns the background), the square sliding from
 * x 20 to x 560 over 40 frames, standing still at the right for 25 frames (5 s), then gone for
 * 30 frames (6 s: past the tracker's 5 s patience).
 */
function slidingSquareClip(): Frame[] {
  const frames: Frame[] = []
  let i = 0
  for (let k = 0; k < 3; k++) frames.push(squareFrame(i++))
  for (let k = 0; k < 40; k++) frames.push(squareFrame(i++, 20 + Math.round((k * 540) / 39)))
  for (let k = 0; k < STILL_FRAMES; k++) frames.push(squareFrame(i++, 560))
  for (let k = 0; k < 30; k++) frames.push(squareFrame(i++))
  return frames
}

async function run(analytics: CameraAnalytics, frames: readonly Frame[]): Promise<void> {
  for (const frame of frames) await analytics.process(frame)
}

describe('CameraAnalytics with a fake detector', () => {
  it('follows a square across the picture: one event, left zone then right, a snapshot, an end', async () => {
    const h = harness(new SquareDetector(), {
      zones: [
        { name: 'left', polygon: LEFT_HALF },
        { name: 'right', polygon: RIGHT_HALF },
      ],
    })
    const clip = slidingSquareClip()
    await run(h.analytics, clip)

    const ids = new Set(h.changes.map((c) => c.id))
    expect(ids.size).toBe(1)
    const [id] = ids
    expect(h.changes.filter((c) => c.kind === 'new')).toHaveLength(1)
    expect(h.changes[0]).toMatchObject({ kind: 'new', data: { label: 'person' } })

    // The square starts on the left: it enters that zone first, then the right one.
    const zoneUpdates = h.changes.filter((c) => c.reason.includes('zone')).map((c) => c.data.zones)
    expect(zoneUpdates).toEqual([['left'], ['left', 'right']])
    expect(h.changes.some((c) => c.reason.includes('stationary'))).toBe(true)

    expect(h.snapshots.length).toBeGreaterThanOrEqual(1)
    for (const s of h.snapshots) {
      expect(s.eventId).toBe(id)
      expect([...s.jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8])
    }
    const saved = h.changes.findIndex((c) => c.reason.includes('snapshot-saved'))
    expect(saved).toBeGreaterThan(0)
    expect(h.changes[saved]!.data.hasSnapshot).toBe(true)
    expect(h.changes.slice(saved).every((c) => c.data.hasSnapshot)).toBe(true)

    const end = h.changes.at(-1)!
    expect(end.kind).toBe('end')
    expect(h.changes.filter((c) => c.kind === 'end')).toHaveLength(1)
    // Ended at its last sighting (the last still frame), not when the tracker gave up on it.
    expect(end.data.endTime).toBe(clip[3 + 40 + STILL_FRAMES - 1]!.time)
    expect(end.data.zones).toEqual(['left', 'right'])

    const stats = h.analytics.stats()
    expect(stats.activeObjects).toBe(0)
    expect(stats.framesDropped).toBe(0)
    expect(stats.fps).toBeCloseTo(5, 5)
    expect(stats.inferenceMsP50).toBeGreaterThanOrEqual(0)
    expect(stats.skippedByMotion).toBeGreaterThan(0)
    expect(stats.skippedByMotion).toBeLessThan(1)
  })

  it('sums the time of each stage and counts the frames analysed', async () => {
    // A detector that takes at least 5 ms a call, so the inference time has a floor to check.
    const square = new SquareDetector()
    const slow: RegionDetector = {
      inputSize: square.inputSize,
      detect: async (frame, region) => {
        await new Promise((r) => setTimeout(r, 5))
        return square.detect(frame, region)
      },
    }
    const h = harness(slow)
    const clip = slidingSquareClip()
    const zero = h.analytics.stats()
    expect(zero.frames).toBe(0)
    expect(zero.stageMs).toEqual({ motion: 0, regions: 0, inference: 0, tracking: 0, snapshot: 0 })

    await run(h.analytics, clip.slice(0, 20))
    const first = h.analytics.stats()
    expect(first.frames).toBe(20)
    expect(first.stageMs.motion).toBeGreaterThan(0)
    expect(first.stageMs.regions).toBeGreaterThan(0)
    expect(first.stageMs.tracking).toBeGreaterThan(0)
    // At least the 5 ms floor for every region looked at (one a frame at least once it moves).
    expect(first.stageMs.inference).toBeGreaterThanOrEqual(square.regions.length * 4.5)
    expect(square.regions.length).toBeGreaterThan(0)

    await run(h.analytics, clip.slice(20))
    const second = h.analytics.stats()
    expect(second.frames).toBe(clip.length)
    for (const stage of ['motion', 'regions', 'inference', 'tracking'] as const)
      expect(second.stageMs[stage]).toBeGreaterThan(first.stageMs[stage])
    // The event's snapshot was encoded and saved: its time is the snapshot stage's.
    expect(h.snapshots.length).toBeGreaterThan(0)
    expect(second.stageMs.snapshot).toBeGreaterThan(0)
    // Dropped frames are not analysed frames.
    const busy = h.analytics.process(squareFrame(clip.length, 300))
    await h.analytics.process(squareFrame(clip.length + 1, 300))
    await busy
    expect(h.analytics.stats().frames).toBe(clip.length + 1)
    expect(h.analytics.stats().framesDropped).toBe(1)
  })

  it('runs no inference at all on a static scene once calibrated', async () => {
    const detector = new SquareDetector()
    const h = harness(detector)
    const frames = Array.from({ length: 30 }, (_, i) => squareFrame(i, 300))
    await run(h.analytics, frames)
    expect(detector.regions).toHaveLength(0)
    expect(h.analytics.stats().skippedByMotion).toBe(1)
    expect(h.changes).toEqual([])
  })

  it('neither detects nor reports a square moving only under a motion mask', async () => {
    const detector = new SquareDetector()
    const h = harness(detector, {
      motionMasks: [
        [
          [0, 0.3],
          [1, 0.3],
          [1, 0.7],
          [0, 0.7],
        ],
      ],
    })
    await run(h.analytics, slidingSquareClip())
    expect(detector.regions).toHaveLength(0)
    expect(h.changes).toEqual([])
  })

  it('reports nothing for a label the camera does not track', async () => {
    const detector = new SquareDetector('car')
    const h = harness(detector, { objects: ['person'] })
    await run(h.analytics, slidingSquareClip())
    expect(detector.regions.length).toBeGreaterThan(0)
    expect(h.changes).toEqual([])
    expect(h.snapshots).toEqual([])
  })

  it('merges the detections of overlapping regions into one', async () => {
    // A square and, far from it, a flickering blob: a small model input gives each its own
    // region. The detector reports the square in every region it is asked about (as it would for
    // an object inside two overlapping regions): the duplicate must collapse to one object.
    const callsPerFrame = new Map<number, number>()
    const detector: RegionDetector = {
      inputSize: 160,
      detect: async (frame) => {
        callsPerFrame.set(frame.time, (callsPerFrame.get(frame.time) ?? 0) + 1)
        return [{ box: { x1: 100, y1: 150, x2: 160, y2: 210 }, score: 0.9, classId: 0, label: 'person' }]
      },
    }
    const h = harness(detector)
    const frames: Frame[] = [squareFrame(0), squareFrame(1)]
    for (let k = 2; k < 10; k++) {
      const frame = squareFrame(k, 100)
      // A second, changing blob far to the right, so motion asks for a second region.
      for (let y = 20; y < 60; y++) frame.data.fill(k % 2 ? WHITE : 16, y * WIDTH + 560, y * WIDTH + 600)
      frames.push(frame)
    }
    await run(h.analytics, frames)
    expect(Math.max(...callsPerFrame.values())).toBe(2)
    expect(h.changes.filter((c) => c.kind === 'new')).toHaveLength(1)
    expect(h.analytics.stats().activeObjects).toBe(1)
  })

  it('drops a frame that arrives while the previous one is still processed', async () => {
    const detector = new SquareDetector()
    const h = harness(detector)
    await h.analytics.process(squareFrame(0))
    const first = h.analytics.process(squareFrame(1, 100))
    const second = h.analytics.process(squareFrame(2, 120))
    await Promise.all([first, second])
    expect(h.analytics.stats().framesDropped).toBe(1)
    // The dropped frame was never analysed: the motion of frame 1 asked for one detector call.
    expect(detector.regions).toHaveLength(1)
    await h.analytics.process(squareFrame(3, 140))
    expect(h.analytics.stats().framesDropped).toBe(1)
  })

  it('goes on without a snapshot when saving it fails', async () => {
    const h = harness(new SquareDetector(), {}, async () => {
      throw new Error('disk full')
    })
    await run(h.analytics, slidingSquareClip())
    expect(h.changes.filter((c) => c.kind === 'new')).toHaveLength(1)
    expect(h.changes.at(-1)!.kind).toBe('end')
    expect(h.changes.every((c) => !c.data.hasSnapshot)).toBe(true)
    expect(h.warn).toHaveBeenCalled()
  })

  it('ends every open event on close and ignores frames afterwards', async () => {
    const h = harness(new SquareDetector())
    const clip = slidingSquareClip().slice(0, 20)
    await run(h.analytics, clip)
    expect(h.changes.filter((c) => c.kind === 'new')).toHaveLength(1)
    expect(h.changes.some((c) => c.kind === 'end')).toBe(false)
    await h.analytics.close()
    const end = h.changes.at(-1)!
    expect(end.kind).toBe('end')
    expect(end.data.endTime).toBe(clip.at(-1)!.time)
    expect(h.analytics.stats().activeObjects).toBe(0)
    const count = h.changes.length
    await h.analytics.process(squareFrame(20, 400))
    await h.analytics.close()
    expect(h.changes).toHaveLength(count)
  })
})

describe('CameraAnalytics with the camera\'s own motion (motionSource "device")', () => {
  const WHOLE_FRAME: Box = { x1: 0, y1: 0, x2: WIDTH, y2: HEIGHT }

  /** A harness whose camera reports motion while `camera.moving` is true. */
  function deviceHarness(detector: RegionDetector, input: AnalyticsConfigInput = {}) {
    const camera = { moving: false, asked: 0 }
    const h = harness(detector, { motionSource: 'device', ...input }, undefined, {
      motionBucketMs: 1000,
      deviceMotion: () => {
        camera.asked++
        return camera.moving
      },
    })
    return { ...h, camera }
  }

  it('computes no pixel motion: a square sliding across runs no detection while the camera is still', async () => {
    const detector = new SquareDetector()
    const h = deviceHarness(detector)
    const clip = slidingSquareClip()
    await run(h.analytics, clip)
    expect(detector.regions).toHaveLength(0)
    expect(h.changes).toEqual([])
    expect(h.analytics.stats().skippedByMotion).toBe(1)
    // Asked once a frame; no motion time either, so the timeline shows none.
    expect(h.camera.asked).toBe(clip.length)
    await h.analytics.close()
    expect(h.analytics.takeMotionBuckets()).toEqual([])
  })

  it('looks at the whole frame while the camera reports motion, even where no pixel changes', async () => {
    const detector = new SquareDetector()
    const h = deviceHarness(detector)
    // A square standing still from the first frame: the agent's pixel motion never sees it.
    const still = Array.from({ length: 10 }, (_, i) => squareFrame(i, 300))
    h.camera.moving = true
    await run(h.analytics, still.slice(0, 5))
    expect(detector.regions).toEqual(Array.from({ length: 5 }, () => WHOLE_FRAME))
    expect(h.changes.filter((c) => c.kind === 'new')).toHaveLength(1)

    // Motion over: the tracked square still gets its own (smaller) region, the whole frame no more.
    h.camera.moving = false
    await run(h.analytics, still.slice(5, 6))
    expect(detector.regions).toHaveLength(6)
    const region = detector.regions[5]!
    expect(region).not.toEqual(WHOLE_FRAME)
    expect(region.x1).toBeLessThanOrEqual(300)
    expect(region.x2).toBeGreaterThanOrEqual(300 + SIDE)
    expect(region.x2 - region.x1).toBeLessThan(WIDTH)
    expect(h.analytics.stats().activeObjects).toBe(1)

    // The same scene with the agent's motion: nothing moves, so nothing is looked at.
    const agent = new SquareDetector()
    const a = harness(agent)
    await run(a.analytics, still)
    expect(agent.regions).toHaveLength(0)
  })

  it("ignores motion masks, which are the agent's pixel motion's", async () => {
    const detector = new SquareDetector()
    const h = deviceHarness(detector, { motionMasks: [LEFT_HALF, RIGHT_HALF] })
    h.camera.moving = true
    await run(h.analytics, [squareFrame(0, 300)])
    expect(detector.regions).toEqual([WHOLE_FRAME])
  })

  it("measures motion time by the camera's state, not the pixels", async () => {
    const h = deviceHarness(new SquareDetector())
    const clip = slidingSquareClip().slice(0, 20) // the square moves from frame 3 on
    // The camera reports motion for frames 0..9 (the span to frame 10: 2 s), then none.
    for (const [i, frame] of clip.entries()) {
      h.camera.moving = i < 10
      await h.analytics.process(frame)
    }
    expect(h.analytics.takeMotionBuckets()).toEqual([
      { start: START, seconds: 1 },
      { start: START + 1000, seconds: 1 },
    ])
    await h.analytics.close()
    expect(h.analytics.takeMotionBuckets()).toEqual([])
  })

  it("never moves when nobody tells it the camera's motion", async () => {
    const detector = new SquareDetector()
    const h = harness(detector, { motionSource: 'device' })
    await run(h.analytics, slidingSquareClip())
    expect(detector.regions).toHaveLength(0)
    expect(h.changes).toEqual([])
  })
})

/** The real model and photo live beside the repository (../shared), never in it. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const MODEL = path.resolve(repoRoot, '../shared/models/yolox_nano.onnx')
const PERSON = path.resolve(repoRoot, '../shared/media/person.png')
const haveShared = existsSync(MODEL) && existsSync(PERSON)
if (!haveShared) console.warn(`SKIPPING real-model CameraAnalytics test: ${MODEL} or ${PERSON} is absent`)

describe.skipIf(!haveShared)('CameraAnalytics with YOLOX-Nano', () => {
  let detector: OnnxDetector
  let person: { data: Buffer; width: number; height: number }

  beforeAll(async () => {
    detector = await OnnxDetector.load(MODEL, { format: 'yolox' })
    const { data, info } = await sharp(PERSON)
      .removeAlpha()
      .resize({ height: 160 })
      .raw()
      .toBuffer({ resolveWithObject: true })
    person = { data, width: info.width, height: info.height }
  })
  afterAll(async () => {
    await detector?.close()
  })

  /** A plain grey 640x360 picture with the photo pasted at `left` (none when undefined). */
  function personFrame(index: number, left?: number): Frame {
    const rgb = Buffer.alloc(WIDTH * HEIGHT * 3, 120)
    if (left !== undefined) {
      const top = 150
      for (let y = 0; y < person.height; y++) {
        const from = y * person.width * 3
        person.data.copy(rgb, ((top + y) * WIDTH + left) * 3, from, from + person.width * 3)
      }
    }
    return { ...rgbToFrame(rgb, WIDTH, HEIGHT, 3), time: START + index * FRAME_MS }
  }

  it('detects and tracks a person walking across as one object, with a snapshot showing them', async () => {
    const h = harness(detector, { minScore: 0.4, threshold: 0.5 })
    const frames = [personFrame(0), personFrame(1)]
    for (let k = 0; k < 25; k++) frames.push(personFrame(k + 2, 20 + Math.round((k * 440) / 24)))
    await run(h.analytics, frames)
    await h.analytics.close()

    const created = h.changes.filter((c) => c.kind === 'new')
    expect(created).toHaveLength(1)
    expect(created[0]!.data.label).toBe('person')
    expect(new Set(h.changes.map((c) => c.id)).size).toBe(1)
    expect(h.changes.at(-1)!.kind).toBe('end')

    expect(h.snapshots.length).toBeGreaterThanOrEqual(1)
    const jpeg = h.snapshots.at(-1)!.jpeg
    expect([...jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8])
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true })
    const decoded = rgbToFrame(data, info.width, info.height, info.channels)
    const found = await detector.detect(decoded, { x1: 0, y1: 0, x2: decoded.width, y2: decoded.height }, 0.4)
    expect(found.some((d) => d.label === 'person')).toBe(true)
  })
})
