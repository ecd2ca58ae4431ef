/**
 * One camera's analysis of its decoded frames, stage after stage (Frigate's order): motion →
 * regions → detect → filter → track → zones → events → snapshots. Everything that does I/O (the
 * detector, writing a snapshot, sending an event) is handed in, so the flow itself runs the same
 * live and in tests, and every decision is taken by frame time, never the clock.
 */
import { performance } from 'node:perf_hooks'
import type { AnalyticsConfig } from '@ts-vms/shared'
import type { Logger } from 'pino'
import { DEFAULT_IOU_THRESHOLD, nmsByClass } from '../detect/nms.ts'
import { planRegions } from '../detect/regions.ts'
import { type ObjectEventChange, ObjectEvents } from '../events/object-events.ts'
import { type MotionBucket, MotionDetector, MotionTime } from '../motion/motion-detector.ts'
import { encodeSnapshot } from '../snapshot/snapshot.ts'
import { ByteTracker, DEFAULT_BYTE_TRACKER_OPTIONS, type TrackedObject } from '../track/byte-tracker.ts'
import type { Box, Detection, Frame } from '../types.ts'
import { ObjectFilter } from '../zones/object-filter.ts'
import { type ObjectZones, ZonePresence } from '../zones/zone-presence.ts'

/** What the pipeline needs of a detector (an `OnnxDetector` fits as is). */
export interface RegionDetector {
  /** The model's input, in pixels; a number for a square input. */
  readonly inputSize: { width: number; height: number } | number
  /** Objects in `region` of `frame` scoring at least `minScore`, boxes in frame pixels. */
  detect(frame: Frame, region: Box, minScore: number): Promise<Detection[]>
}

export interface CameraAnalyticsOptions {
  cameraId: string
  config: AnalyticsConfig
  /** Size of the analytics frames `process` is given, in pixels. */
  width: number
  height: number
  detector: RegionDetector
  /** Stores an event's snapshot JPEG; `frameTime` is the time of the frame it shows. */
  saveSnapshot: (eventId: string, jpeg: Buffer, frameTime: number) => Promise<void>
  /** Receives every event change, in order. */
  emit: (change: ObjectEventChange) => void
  logger?: Pick<Logger, 'warn'>
  /** A stationary object is re-detected once per this many frames (see `planRegions`). */
  stationaryRecheckFrames?: number
  /** Length of the motion-time buckets (`takeMotionBuckets`), ms; default 10 s. */
  motionBucketMs?: number
  /**
   * Whether the camera reports motion now (its own `device.motion`), asked once per frame when
   * `config.motionSource` is `device`: the frame then moves as a whole while it does, and not at
   * all otherwise (no pixel motion is computed). Absent: the camera never reports motion.
   */
  deviceMotion?: () => boolean
}

export interface CameraAnalyticsStats {
  /** Frames processed per second over the last ~10 s of frame time; 0 before two frames. */
  fps: number
  /** Median wall-clock time of the last ~100 detector calls, ms; 0 before any. */
  inferenceMsP50: number
  /** Share of processed frames (0..1) on which the detector did not run at all. */
  skippedByMotion: number
  /** Frames refused because the previous one was still being processed. */
  framesDropped: number
  /** Frames whose detection failed and were left out of tracking. */
  detectorFailures: number
  /** Objects the tracker holds (tentative and lost ones included). */
  activeObjects: number
  /** Frames analysed since the start (dropped ones not counted). */
  frames: number
  /** Wall time spent in each stage since the start, ms (see `StageMs`). */
  stageMs: StageMs
}

/**
 * Cumulative wall-clock time per stage, ms, measured with `performance.now()`. Every stage but
 * `inference` and `snapshot` is synchronous code, so its wall time is the CPU time of the thread
 * that runs the pipeline (plus any preemption); `inference` is the time spent awaiting the
 * detector, so with a detector shared by several cameras it also counts waiting for its turn.
 */
export interface StageMs {
  /** Motion detection and motion time. */
  motion: number
  /** Planning the regions the detector looks at. */
  regions: number
  /** Awaiting the detector, every region of the frame. */
  inference: number
  /** The object filter, NMS across regions, the tracker, zones and events (sending them too). */
  tracking: number
  /** Encoding and saving snapshots (awaited). */
  snapshot: number
}

/** Frame-time window `stats().fps` is measured over. */
export const FPS_WINDOW_MS = 10_000
/** Detector calls `stats().inferenceMsP50` is the median of. */
export const INFERENCE_SAMPLES = 100

export class CameraAnalytics {
  readonly cameraId: string
  readonly #o: CameraAnalyticsOptions
  readonly #modelSize: number
  /** The pixel motion detector; undefined when the motion comes from the camera (`device`). */
  readonly #motion: MotionDetector | undefined
  readonly #motionTime: MotionTime
  readonly #filter: ObjectFilter
  readonly #tracker: ByteTracker
  readonly #zones: ZonePresence
  readonly #events: ObjectEvents
  /** The tracker's live objects after the previous frame: where the detector looks next. */
  #tracked: TrackedObject[] = []
  #frameIndex = 0
  #framesWithoutInference = 0
  #framesDropped = 0
  #detectorFailures = 0
  #framesAnalysed = 0
  readonly #stageMs: StageMs = { motion: 0, regions: 0, inference: 0, tracking: 0, snapshot: 0 }
  /** Frame times of the processed frames within the fps window, oldest first. */
  readonly #recentFrameTimes: number[] = []
  /** Latest detector durations (ms), oldest first. */
  readonly #inferenceMs: number[] = []
  #lastFrameTime: number | undefined
  /** The frame being processed, if any: `close` waits for it. */
  #running: Promise<void> | undefined
  #closed = false

  constructor(options: CameraAnalyticsOptions) {
    const { config, width, height } = options
    this.cameraId = options.cameraId
    this.#o = options
    const input = options.detector.inputSize
    // planRegions wants a square side: the largest square that reaches a non-square input unscaled.
    this.#modelSize = typeof input === 'number' ? input : Math.min(input.width, input.height)
    this.#motion =
      config.motionSource === 'device'
        ? undefined
        : new MotionDetector({ width, height, masks: config.motionMasks })
    this.#motionTime = new MotionTime({ bucketMs: options.motionBucketMs ?? 10_000 })
    this.#filter = new ObjectFilter({
      width,
      height,
      objects: config.objects,
      minScore: config.minScore,
      threshold: config.threshold,
      minArea: config.minArea,
      maxArea: config.maxArea,
      objectMasks: config.objectMasks,
    })
    this.#tracker = new ByteTracker({
      // Detections reaching the tracker already passed minScore: each of them may start a track,
      // so the tracker's "confident" line is the camera's, not ByteTrack's fixed 0.5.
      highScore: config.minScore,
      lowScore: Math.min(DEFAULT_BYTE_TRACKER_OPTIONS.lowScore, config.minScore),
      frameIntervalMs: 1000 / config.fps,
    })
    this.#zones = new ZonePresence(config.zones, { width, height })
    this.#events = new ObjectEvents({ width, height, filter: this.#filter })
  }

  /**
   * Analyses one frame. Frames are processed one at a time: a frame arriving while the previous
   * one is still being processed is dropped (and counted), never queued. The decoder delivers at
   * the camera's rate whatever the detector manages; a queue behind a slower detector would grow
   * without bound (a 640x360 frame is 345 KB) and every event would lag further behind the
   * picture. Dropping keeps memory and latency bounded, and the tracker and events go by frame
   * time, so a gap costs accuracy, not correctness. Frames after `close` are ignored.
   */
  process(frame: Frame): Promise<void> {
    if (this.#closed) return Promise.resolve()
    if (this.#running) {
      this.#framesDropped++
      return Promise.resolve()
    }
    const running = this.#analyse(frame).finally(() => {
      this.#running = undefined
    })
    this.#running = running
    return running
  }

  stats(): CameraAnalyticsStats {
    const times = this.#recentFrameTimes
    const span = times.length >= 2 ? times[times.length - 1]! - times[0]! : 0
    return {
      fps: span > 0 ? ((times.length - 1) * 1000) / span : 0,
      inferenceMsP50: median(this.#inferenceMs),
      skippedByMotion: this.#frameIndex === 0 ? 0 : this.#framesWithoutInference / this.#frameIndex,
      framesDropped: this.#framesDropped,
      detectorFailures: this.#detectorFailures,
      activeObjects: this.#tracker.size,
      frames: this.#framesAnalysed,
      stageMs: { ...this.#stageMs },
    }
  }

  /**
   * The objects that are events and were seen in the latest analysed frame (not predicted ones), boxes relative
   * to the frame, largest first: what a live view's overlay draws.
   */
  currentObjects(): {
    id: string
    label: string
    score: number
    box: [number, number, number, number]
    stationary: boolean
  }[] {
    const { width, height } = this.#o
    return this.#tracked
      .filter((o) => o.state === 'confirmed' && this.#events.isEvent(o.id))
      .map((o) => ({
        id: o.id,
        label: o.label,
        score: o.score,
        box: [
          clamp01(o.box.x1 / width),
          clamp01(o.box.y1 / height),
          clamp01(o.box.x2 / width),
          clamp01(o.box.y2 / height),
        ] as [number, number, number, number],
        stationary: o.stationary,
      }))
      .sort(
        (a, b) =>
          (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]) - (a.box[2] - a.box[0]) * (a.box[3] - a.box[1]),
      )
  }

  /**
   * Seconds of motion per bucket for the buckets that are over (by the latest frame's time), oldest
   * first, each returned once: the playback timeline's motion. After `close`, every bucket left.
   */
  takeMotionBuckets(): MotionBucket[] {
    if (this.#closed) return this.#motionTime.takeBefore(Number.POSITIVE_INFINITY)
    return this.#lastFrameTime === undefined ? [] : this.#motionTime.takeBefore(this.#lastFrameTime)
  }

  /**
   * Stops the analysis: waits for the frame in progress, then ends every tracked object (emitting
   * the `end` of each event) so no event stays open after the camera stops.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#running?.catch(() => undefined)
    const ended = this.#tracker.endAll()
    for (const object of ended) this.#zones.forget(object.id)
    this.#tracked = []
    // The end time is the object's last sighting, so any time at or after the last frame will do.
    const time = this.#lastFrameTime ?? 0
    for (const change of this.#events.step(time, [], new Map(), ended)) this.#o.emit(change)
  }

  async #analyse(frame: Frame): Promise<void> {
    const frameIndex = this.#frameIndex++
    this.#framesAnalysed++
    this.#countFrameTime(frame.time)
    const stage = this.#stageMs
    let started = performance.now()
    const motion = this.#motionBoxes(frame)
    this.#motionTime.add(frame.time, motion.length > 0)
    let now = performance.now()
    stage.motion += now - started
    started = now
    const regions = planRegions({
      frameWidth: this.#o.width,
      frameHeight: this.#o.height,
      modelSize: this.#modelSize,
      motion,
      tracked: this.#tracked,
      frameIndex,
      stationaryRecheckFrames: this.#o.stationaryRecheckFrames,
    })
    stage.regions += performance.now() - started
    let detections: Detection[] = []
    if (regions.length === 0) {
      // Nothing moves and nothing tracked is due a look: the tracker still advances (with no
      // detections) so objects that left go lost and end on time.
      this.#framesWithoutInference++
    } else {
      try {
        detections = await this.#detectInRegions(frame, regions)
      } catch (err) {
        // A frame the detector failed on is left out of tracking rather than fed as "nothing
        // here", which would end objects that are still in view; the next frame extrapolates.
        this.#detectorFailures++
        this.#o.logger?.warn({ err, cameraId: this.cameraId }, 'analytics: detection failed, frame skipped')
        return
      }
    }

    started = performance.now()
    const { active, ended } = this.#tracker.update(frame.time, detections)
    this.#tracked = active
    const zones = new Map<string, ObjectZones>()
    for (const object of active) {
      zones.set(object.id, this.#zones.update(object.id, object.label, object.box, frame.time))
    }
    for (const object of ended) this.#zones.forget(object.id)

    let jpeg: Promise<Buffer> | undefined
    for (const change of this.#events.step(frame.time, active, zones, ended)) {
      this.#o.emit(change)
      if (!change.snapshot) continue
      now = performance.now()
      stage.tracking += now - started
      // One JPEG per frame, however many events want this frame as their snapshot.
      jpeg ??= encodeSnapshot(frame)
      const saved = await this.#saveSnapshot(change.id, jpeg, frame.time)
      started = performance.now()
      stage.snapshot += started - now
      if (!saved) continue
      const update = this.#events.snapshotSaved(change.id)
      if (update) this.#o.emit(update)
    }
    stage.tracking += performance.now() - started
  }

  /**
   * Where the frame moves: the pixel motion detector's boxes, or with the camera's own motion
   * (`device`) the whole frame while the camera reports motion and nothing otherwise. A camera's
   * motion has no place, so detection looks at the whole frame while it lasts; tracked objects
   * still get their regions when it does not.
   */
  #motionBoxes(frame: Frame): Box[] {
    if (this.#motion) return this.#motion.detect(frame).boxes
    return this.#o.deviceMotion?.() ? [{ x1: 0, y1: 0, x2: this.#o.width, y2: this.#o.height }] : []
  }

  /**
   * Runs the detector on every region and merges the results: a person inside two overlapping
   * regions is found twice, and class-wise NMS keeps the better box.
   */
  async #detectInRegions(frame: Frame, regions: readonly Box[]): Promise<Detection[]> {
    const found: Detection[] = []
    for (const region of regions) {
      const started = performance.now()
      let inRegion: Detection[]
      try {
        inRegion = await this.#o.detector.detect(frame, region, this.#o.config.minScore)
      } finally {
        // A failed call took its time too (the median is of successful ones only).
        this.#stageMs.inference += performance.now() - started
      }
      this.#recordInferenceMs(performance.now() - started)
      found.push(...inRegion)
    }
    // Filtered before merging, so a box the camera refuses (its feet in an object mask) cannot
    // suppress an overlapping one it keeps.
    const started = performance.now()
    const kept = found.filter((detection) => this.#filter.keepDetection(detection))
    const merged = regions.length > 1 ? nmsByClass(kept, DEFAULT_IOU_THRESHOLD) : kept
    this.#stageMs.tracking += performance.now() - started
    return merged
  }

  /** Whether the snapshot was stored; a failure is logged and the event goes on without it. */
  async #saveSnapshot(eventId: string, jpeg: Promise<Buffer>, frameTime: number): Promise<boolean> {
    try {
      await this.#o.saveSnapshot(eventId, await jpeg, frameTime)
      return true
    } catch (err) {
      this.#o.logger?.warn(
        { err, cameraId: this.cameraId, eventId },
        'analytics: snapshot not saved, the event goes on without it',
      )
      return false
    }
  }

  #countFrameTime(time: number): void {
    this.#lastFrameTime = time
    const times = this.#recentFrameTimes
    times.push(time)
    while (times.length > 1 && times[0]! <= time - FPS_WINDOW_MS) times.shift()
  }

  #recordInferenceMs(ms: number): void {
    this.#inferenceMs.push(ms)
    if (this.#inferenceMs.length > INFERENCE_SAMPLES) this.#inferenceMs.shift()
  }
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : Math.round(v * 1e5) / 1e5)

function median(values: readonly number[]): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
