/**
 * Multi-object tracking by detection, after ByteTrack (Zhang et al., 2022): a Kalman filter per
 * object, IoU association solved optimally, and a second association that spends low-score
 * detections on keeping existing tracks alive (an occluded person scores 0.2, not 0) without ever
 * letting them start tracks of their own. Times are the frames' own (ms), never the clock, so the
 * tracker behaves the same live, on a stalled stream and in tests.
 */
import { randomUUID } from 'node:crypto'
import { iou } from '../detect/nms.ts'
import type { Box, Detection } from '../types.ts'
import { assign } from './assignment.ts'
import { KalmanBox } from './kalman-box.ts'

export type TrackState = 'tentative' | 'confirmed' | 'lost'

/** One tracked object as of the latest update: a snapshot the caller may keep. */
export interface TrackedObject {
  /** Stable for the object's life; the events layer uses it as the event id. */
  id: string
  label: string
  /** The Kalman-filtered box in frame pixels (the prediction while the object is unseen). */
  box: Box
  /** Score of the latest matched detection. */
  score: number
  topScore: number
  /** The latest matched scores, oldest first, bounded (for a median, as Frigate computes). */
  scores: number[]
  /** Detections matched so far. */
  hits: number
  /** tentative: not yet `confirmHits` hits; confirmed: seen in the latest frame; lost: unseen. */
  state: TrackState
  /** The box has barely moved over the stationary window (a parked car, a seated person). */
  stationary: boolean
  /** Frame times (ms) of the first and the latest matched detection. */
  firstSeen: number
  lastSeen: number
  lastDetection: Detection
}

export interface TrackerUpdate {
  /** Every live track, tentative ones included, in creation order. */
  active: TrackedObject[]
  /** Tracks removed by this update; each track is reported here exactly once. */
  ended: TrackedObject[]
}

export interface ByteTrackerOptions {
  /** Detections at or above this start tracks and take part in the first association. */
  highScore: number
  /** Detections below this are dropped; between it and `highScore` they only sustain tracks. */
  lowScore: number
  /** First association (high-score detections): minimum IoU, exclusive, with a predicted box. */
  highMatchIou: number
  /** Second association (low-score detections): minimum IoU, exclusive. */
  lowMatchIou: number
  /** Matched detections before a track is confirmed. */
  confirmHits: number
  /** A confirmed track unseen this long (frame time, ms) is ended. */
  lostAfterMs: number
  /** The nominal frame interval (ms): elapsed time / this = Kalman steps. */
  frameIntervalMs: number
  /** Minimum IoU of the current box against every box of the window to count as stationary. */
  stationaryIou: number
  /** How far back (ms) the stationary test looks. */
  stationaryWindowMs: number
  /** How many recent scores each track keeps. */
  scoreHistory: number
  /** Mints track ids. */
  createId: () => string
}

export const DEFAULT_BYTE_TRACKER_OPTIONS: Readonly<ByteTrackerOptions> = Object.freeze({
  // ByteTrack's track_thresh; also Frigate's default min_score: above it a detector is right
  // often enough that an unmatched box deserves a track.
  highScore: 0.5,
  // ByteTrack's fixed floor: below 0.1 boxes are mostly background, even next to a track.
  lowScore: 0.1,
  // ByteTrack's match_thresh 0.8 on 1 - IoU. Loose on purpose: at 5 fps an object moves far
  // between frames and a young track's velocity is still a guess, so its prediction lags.
  highMatchIou: 0.2,
  // ByteTrack's second-stage 0.5: low-score boxes are often partial or spurious, so they must sit
  // squarely on a track's prediction to count for it.
  lowMatchIou: 0.5,
  // ByteTrack activates a track on its second frame: a one-frame false positive never surfaces,
  // and a real object costs one frame (200 ms at 5 fps).
  confirmHits: 2,
  // Frigate's max_disappeared default, 5x the detect fps = 5 s: rides out a person walking behind
  // a tree or a detector missing a few frames without splitting one visit into two events.
  lostAfterMs: 5000,
  // Frigate's recommended detect rate, 5 fps. The Kalman noise is tuned per frame (ByteTrack), so
  // time is converted to frames of this length; a stall of 2 s extrapolates 10 frames.
  frameIntervalMs: 200,
  // A filtered box jitters by well under 5% of its size, which keeps IoU above 0.9; a walking
  // person covers their own width in well under a second, far below it.
  stationaryIou: 0.9,
  // ~10 frames at 5 fps: long enough that slow real motion shows, short enough that "the car has
  // parked" is known within seconds (Frigate waits 50 frames, 10 s, before it calls it).
  stationaryWindowMs: 2000,
  // Frigate's score history length, the median of which is an object's score.
  scoreHistory: 10,
  // Random UUIDs stay unique across agent restarts, which a counter would not: the events layer
  // uses them as event ids.
  createId: () => randomUUID(),
})

/** A box the filter can take: finite with a positive size (a degenerate one would poison it). */
function isUsableBox(box: Box): boolean {
  return [box.x1, box.y1, box.x2, box.y2].every(Number.isFinite) && box.x2 > box.x1 && box.y2 > box.y1
}

function copyDetection(detection: Detection): Detection {
  return { ...detection, box: { ...detection.box } }
}

class Track {
  readonly filter: KalmanBox
  /** The time the filter's state refers to. */
  filterTime: number
  hits = 1
  state: TrackState
  stationary = false
  score: number
  topScore: number
  scores: number[]
  lastSeen: number
  lastDetection: Detection
  /** Filtered boxes at matched frames within the stationary window, plus one just before it. */
  private history: { time: number; box: Box }[]

  constructor(
    readonly id: string,
    readonly label: string,
    readonly firstSeen: number,
    detection: Detection,
    private readonly options: ByteTrackerOptions,
  ) {
    this.filter = new KalmanBox(detection.box)
    this.filterTime = firstSeen
    this.state = options.confirmHits <= 1 ? 'confirmed' : 'tentative'
    this.score = detection.score
    this.topScore = detection.score
    this.scores = [detection.score]
    this.lastSeen = firstSeen
    this.lastDetection = copyDetection(detection)
    this.history = [{ time: firstSeen, box: this.filter.box }]
  }

  predictTo(time: number): void {
    const elapsed = time - this.filterTime
    if (elapsed <= 0) return
    this.filter.predict(elapsed / this.options.frameIntervalMs)
    this.filterTime = time
  }

  observe(time: number, detection: Detection): void {
    this.filter.update(detection.box)
    this.hits++
    this.score = detection.score
    this.topScore = Math.max(this.topScore, detection.score)
    this.scores.push(detection.score)
    if (this.scores.length > this.options.scoreHistory) this.scores.shift()
    this.lastSeen = time
    this.lastDetection = copyDetection(detection)
    if (this.hits >= this.options.confirmHits) this.state = 'confirmed'
    this.updateStationary(time)
  }

  /**
   * Stationary when the window is covered and the current box overlaps every box in it by at
   * least `stationaryIou`. Against every box rather than just the oldest, so an object that moves
   * and comes back (someone pacing, a swinging gate) is not taken for still. Only matched frames
   * count: an unseen track keeps its flag, so a parked car stays parked behind a passing bus.
   */
  private updateStationary(time: number): void {
    const box = this.filter.box
    this.history.push({ time, box })
    const windowStart = time - this.options.stationaryWindowMs
    // Drop what is older than the window but keep the newest such entry: it proves the window
    // is covered (a track younger than the window cannot be called stationary yet).
    while (this.history.length > 1 && this.history[1]!.time <= windowStart) this.history.shift()
    const covered = this.history[0]!.time <= windowStart
    this.stationary =
      covered && this.history.every((entry) => iou(entry.box, box) >= this.options.stationaryIou)
  }

  snapshot(): TrackedObject {
    return {
      id: this.id,
      label: this.label,
      box: this.filter.box,
      score: this.score,
      topScore: this.topScore,
      scores: [...this.scores],
      hits: this.hits,
      state: this.state,
      stationary: this.stationary,
      firstSeen: this.firstSeen,
      lastSeen: this.lastSeen,
      lastDetection: copyDetection(this.lastDetection),
    }
  }
}

function validate(o: ByteTrackerOptions): void {
  const fail = (why: string) => {
    throw new RangeError(`ByteTracker: ${why}`)
  }
  if (!(o.lowScore >= 0 && o.lowScore <= o.highScore && o.highScore <= 1))
    fail('need 0 ≤ lowScore ≤ highScore ≤ 1')
  for (const key of ['highMatchIou', 'lowMatchIou', 'stationaryIou'] as const) {
    if (!(o[key] >= 0 && o[key] <= 1)) fail(`${key} must be within 0..1`)
  }
  if (!(o.frameIntervalMs > 0)) fail('frameIntervalMs must be positive')
  if (!(o.lostAfterMs >= 0 && o.stationaryWindowMs >= 0)) fail('durations must not be negative')
  if (!(Number.isInteger(o.confirmHits) && o.confirmHits >= 1)) fail('confirmHits must be a positive integer')
  if (!(Number.isInteger(o.scoreHistory) && o.scoreHistory >= 1))
    fail('scoreHistory must be a positive integer')
}

export class ByteTracker {
  private readonly options: ByteTrackerOptions
  /** Live tracks in creation order. */
  private readonly tracks = new Map<string, Track>()

  constructor(options: Partial<ByteTrackerOptions> = {}) {
    this.options = { ...DEFAULT_BYTE_TRACKER_OPTIONS, ...options }
    validate(this.options)
  }

  /** Live tracks, tentative ones included. */
  get size(): number {
    return this.tracks.size
  }

  /**
   * Advances to frame `time` (ms) with that frame's detections (possibly none: time still moves,
   * tracks go lost and end). Frames must come in time order; an older time predicts nothing.
   */
  update(time: number, detections: readonly Detection[]): TrackerUpdate {
    const { highScore, lowScore } = this.options
    for (const track of this.tracks.values()) track.predictTo(time)

    const usable = detections.filter((d) => d.score >= lowScore && isUsableBox(d.box))
    const high = usable.filter((d) => d.score >= highScore)
    const low = usable.filter((d) => d.score < highScore)

    // Stage 1: confident detections against every track, tentative and lost ones included.
    const tracks = [...this.tracks.values()]
    const first = this.associate(tracks, high, this.options.highMatchIou, time)

    // Stage 2: weak detections only for confirmed tracks the first stage left over. A tentative
    // track has one sighting; a weak box is not enough to make it real.
    const leftover = first.unmatchedRows.map((i) => tracks[i]!).filter((t) => t.state !== 'tentative')
    const second = this.associate(leftover, low, this.options.lowMatchIou, time)
    const unmatched = new Set([
      ...first.unmatchedRows.map((i) => tracks[i]!).filter((t) => t.state === 'tentative'),
      ...second.unmatchedRows.map((i) => leftover[i]!),
    ])

    const ended: TrackedObject[] = []
    for (const track of unmatched) {
      // ByteTrack drops a tentative track at its first miss: most are one-frame false positives.
      const expired = track.state === 'tentative' || time - track.lastSeen >= this.options.lostAfterMs
      if (track.state === 'confirmed') track.state = 'lost'
      if (expired) {
        this.tracks.delete(track.id)
        ended.push(track.snapshot())
      }
    }

    // Only confident detections start tracks: a weak box on its own is too often background.
    for (const col of first.unmatchedCols) {
      const detection = high[col]!
      const track = new Track(this.options.createId(), detection.label, time, detection, this.options)
      this.tracks.set(track.id, track)
    }

    return { active: [...this.tracks.values()].map((t) => t.snapshot()), ended }
  }

  /** Ends every live track, e.g. when the camera stops; returns them as `ended`. */
  endAll(): TrackedObject[] {
    const ended = [...this.tracks.values()].map((t) => t.snapshot())
    this.tracks.clear()
    return ended
  }

  /** IoU association of detections to tracks' predicted boxes, never across labels. */
  private associate(tracks: Track[], detections: Detection[], minIou: number, time: number) {
    const boxes = tracks.map((t) => t.filter.box)
    const cost = tracks.map((track, i) =>
      detections.map((d) => (d.label === track.label ? 1 - iou(boxes[i]!, d.box) : Number.POSITIVE_INFINITY)),
    )
    const result = assign(cost, 1 - minIou, detections.length)
    for (const [row, col] of result.matches) tracks[row]!.observe(time, detections[col]!)
    return result
  }
}
