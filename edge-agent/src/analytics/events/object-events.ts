/**
 * The object event lifecycle, after Frigate's tracked-object events: one `object` event per
 * tracked object, created once the object is real enough (the median of its recent scores reaches
 * the threshold), updated when something a viewer cares about changes, and ended when its track
 * ends. Pure: times are the frames' own (ms), never the clock, so replays and tests behave as live.
 *
 * The event id is the tracker's object id, so start, updates and end of one event share it.
 */
import type { TrackedObject } from '../track/byte-tracker.ts'
import type { Box } from '../types.ts'
import { MIN_SCORES_FOR_MEDIAN, medianScore, RECENT_SCORE_COUNT } from '../zones/object-filter.ts'
import type { ObjectZones } from '../zones/zone-presence.ts'

/** How often (frame time, ms) an active event is re-sent with nothing new, so a store sees it alive. */
export const DEFAULT_UPDATE_EVERY_MS = 60_000
/**
 * A box this close (px) to a frame edge is taken as cut off. Frigate tests for exactly 0 or the
 * last pixel; boxes here are unletterboxed floats, so a cut-off person ends at 0.7 px, not 0.
 */
export const EDGE_MARGIN_PX = 2
/** A snapshot's score must beat the current one by more than this to replace it (Frigate's 5%). */
export const SNAPSHOT_SCORE_MARGIN = 0.05
/** At about the same score, a snapshot must be this much larger to replace it (Frigate's 10%). */
export const SNAPSHOT_AREA_RATIO = 1.1

export interface ObjectEventData {
  label: string
  /** The highest median score the object reached (Frigate's `top_score`), not one lucky frame. */
  score: number
  /** Frame time the object was first detected. */
  startTime: number
  /** Frame time the object was last detected; null while the event is active. */
  endTime: number | null
  /** Zones entered, each once, in the order first entered. */
  zones: string[]
  /** The snapshot's box, relative to the frame (0..1): [x1, y1, x2, y2]. */
  box: [number, number, number, number]
  stationary: boolean
  loitering: boolean
  /** A snapshot JPEG has been saved for the event (confirmed by {@link ObjectEvents.snapshotSaved}). */
  hasSnapshot: boolean
}

export type ObjectEventReason =
  | 'threshold'
  | 'zone'
  | 'stationary'
  | 'active'
  | 'loitering'
  | 'loitering-ended'
  | 'snapshot'
  | 'snapshot-saved'
  | 'heartbeat'
  | 'track-ended'

export interface ObjectEventChange {
  kind: 'new' | 'update' | 'end'
  /** The event id: the tracker's object id. */
  id: string
  type: 'object'
  /** Why this change was sent; `snapshot` exactly when {@link snapshot} is present. */
  reason: ObjectEventReason[]
  /** The event's data after the change; a copy the caller may keep. */
  data: ObjectEventData
  /** Present when this frame is the event's new best snapshot: encode this frame's JPEG, crop `box`. */
  snapshot?: { box: Box }
}

/** A possible snapshot: a detection's box in frame pixels and its score. */
export interface SnapshotCandidate {
  box: Box
  score: number
}

export interface ObjectEventsOptions {
  /** The analytics frame the boxes are in, in pixels. */
  width: number
  height: number
  /** Decides from an object's recent scores (zeros for unseen frames) whether it is real. */
  filter: { passesThreshold(scores: readonly number[]): boolean }
  /** Default {@link DEFAULT_UPDATE_EVERY_MS}. */
  updateEveryMs?: number
}

/** Whether a box reaches within {@link EDGE_MARGIN_PX} of any edge of the frame: the object is cut off. */
export function touchesFrameEdge(box: Box, frame: { width: number; height: number }): boolean {
  return (
    box.x1 <= EDGE_MARGIN_PX ||
    box.y1 <= EDGE_MARGIN_PX ||
    box.x2 >= frame.width - EDGE_MARGIN_PX ||
    box.y2 >= frame.height - EDGE_MARGIN_PX
  )
}

/**
 * Whether `candidate` makes a better snapshot than `current` (Frigate's `is_better_thumbnail`,
 * without its face check): a whole object beats a cut-off one whatever the scores; then a score
 * higher by more than {@link SNAPSHOT_SCORE_MARGIN} wins; at about the same score, an area larger by
 * {@link SNAPSHOT_AREA_RATIO} wins. The margins keep a jittering box from re-encoding a JPEG every
 * frame for a gain nobody could see. Unlike Frigate, a clearly lower score never wins on area: the
 * issue orders score before area.
 */
export function isBetterSnapshot(
  candidate: SnapshotCandidate,
  current: SnapshotCandidate,
  frame: { width: number; height: number },
): boolean {
  const candidateCut = touchesFrameEdge(candidate.box, frame)
  const currentCut = touchesFrameEdge(current.box, frame)
  if (candidateCut !== currentCut) return currentCut
  if (candidate.score > current.score + SNAPSHOT_SCORE_MARGIN) return true
  if (candidate.score < current.score - SNAPSHOT_SCORE_MARGIN) return false
  return boxArea(candidate.box) > boxArea(current.box) * SNAPSHOT_AREA_RATIO
}

function boxArea(box: Box): number {
  return Math.max(0, box.x2 - box.x1) * Math.max(0, box.y2 - box.y1)
}

interface ActiveEvent {
  data: ObjectEventData
  best: SnapshotCandidate | undefined
  /** Frame time of the latest change sent, for the heartbeat. */
  lastSentTime: number
}

interface ObjectState {
  /** Latest scores, a 0 for each frame the object was tracked but not detected (as Frigate does). */
  scores: number[]
  topScore: number
  /** Latest zones reported for the object: the caller may skip frames it did not update zones on. */
  zones: ObjectZones | undefined
  event: ActiveEvent | undefined
}

export class ObjectEvents {
  readonly #width: number
  readonly #height: number
  readonly #filter: ObjectEventsOptions['filter']
  readonly #updateEveryMs: number
  readonly #objects = new Map<string, ObjectState>()

  constructor(options: ObjectEventsOptions) {
    if (!(options.width > 0 && options.height > 0 && Number.isFinite(options.width * options.height))) {
      throw new RangeError('width and height must be positive numbers')
    }
    const updateEveryMs = options.updateEveryMs ?? DEFAULT_UPDATE_EVERY_MS
    if (!(Number.isFinite(updateEveryMs) && updateEveryMs > 0)) {
      throw new RangeError('updateEveryMs must be a positive number')
    }
    this.#width = options.width
    this.#height = options.height
    this.#filter = options.filter
    this.#updateEveryMs = updateEveryMs
  }

  /**
   * Feeds one frame: `time` its frame time, `tracked` the tracker's live objects (`active`),
   * `zones` each object's zone state by object id (a missing entry keeps the previous one), and
   * `ended` the tracks the tracker removed this frame. Call once per frame, frames in time order.
   */
  step(
    time: number,
    tracked: readonly TrackedObject[],
    zones: ReadonlyMap<string, ObjectZones>,
    ended: readonly TrackedObject[],
  ): ObjectEventChange[] {
    const changes: ObjectEventChange[] = []
    for (const object of tracked) {
      const change = this.#observe(time, object, zones.get(object.id))
      if (change) changes.push(change)
    }
    for (const object of ended) {
      const state = this.#objects.get(object.id)
      this.#objects.delete(object.id)
      // An object that never passed the threshold was never an event: it ends without a word.
      if (!state?.event) continue
      // The last detection, not the removal: the tracker's patience after it is not the object's stay.
      state.event.data.endTime = object.lastSeen
      changes.push(this.#change('end', object.id, ['track-ended'], state.event))
    }
    return changes
  }

  /** Whether the object is an event now (it passed the threshold and has not ended). */
  isEvent(id: string): boolean {
    return this.#objects.get(id)?.event !== undefined
  }

  /**
   * The caller saved the snapshot JPEG an event's change asked for. Returns the update that makes
   * `hasSnapshot` true the first time, nothing afterwards (or for an unknown or ended event). Not
   * set when the snapshot is requested: the encode or the write may fail, and an event claiming a
   * snapshot that does not exist is a broken thumbnail in every client.
   */
  snapshotSaved(id: string): ObjectEventChange | undefined {
    const event = this.#objects.get(id)?.event
    if (!event || event.data.hasSnapshot) return undefined
    event.data.hasSnapshot = true
    return this.#change('update', id, ['snapshot-saved'], event)
  }

  #observe(
    time: number,
    object: TrackedObject,
    zones: ObjectZones | undefined,
  ): ObjectEventChange | undefined {
    let state = this.#objects.get(object.id)
    if (!state) {
      state = { scores: [], topScore: 0, zones: undefined, event: undefined }
      this.#objects.set(object.id, state)
    }
    const detected = object.lastSeen === time
    state.scores.push(detected ? object.score : 0)
    if (state.scores.length > RECENT_SCORE_COUNT) state.scores.shift()
    state.topScore = Math.max(state.topScore, paddedMedian(state.scores))
    if (zones) state.zones = zones
    // Only a frame the object was detected in shows it: a predicted box may frame empty floor.
    const candidate: SnapshotCandidate | undefined = detected
      ? { box: { ...object.lastDetection.box }, score: object.lastDetection.score }
      : undefined

    if (!state.event) {
      if (!this.#filter.passesThreshold(state.scores)) return undefined
      const event: ActiveEvent = {
        data: {
          label: object.label,
          score: state.topScore,
          // The first detection, as Frigate: the threshold only decides the object is real; the
          // event is the object's whole visit, including the frames it took to be sure.
          startTime: object.firstSeen,
          endTime: null,
          zones: [...(state.zones?.enteredZones ?? [])],
          box: this.#relative(candidate?.box ?? object.box),
          stationary: object.stationary,
          loitering: state.zones?.loitering ?? false,
          hasSnapshot: false,
        },
        best: candidate,
        lastSentTime: time,
      }
      state.event = event
      return this.#change('new', object.id, candidate ? ['threshold', 'snapshot'] : ['threshold'], event)
    }

    const event = state.event
    const { data } = event
    const reasons: ObjectEventReason[] = []
    data.score = state.topScore
    const enteredZones = state.zones?.enteredZones ?? []
    if (!sameNames(enteredZones, data.zones)) {
      data.zones = [...enteredZones]
      reasons.push('zone')
    }
    if (object.stationary !== data.stationary) {
      data.stationary = object.stationary
      reasons.push(object.stationary ? 'stationary' : 'active')
    }
    const loitering = state.zones?.loitering ?? false
    if (loitering !== data.loitering) {
      data.loitering = loitering
      // Sent when it stops too: a stored event must not keep saying "loitering" after they left.
      reasons.push(loitering ? 'loitering' : 'loitering-ended')
    }
    if (candidate && (!event.best || isBetterSnapshot(candidate, event.best, this.#frame))) {
      event.best = candidate
      data.box = this.#relative(candidate.box)
      reasons.push('snapshot')
    }
    // Counted from the latest change of any kind: a store that just heard from the event needs no
    // proof of life, so heartbeats come only after a quiet `updateEveryMs`.
    if (reasons.length === 0 && time - event.lastSentTime >= this.#updateEveryMs) reasons.push('heartbeat')
    if (reasons.length === 0) return undefined
    event.lastSentTime = time
    return this.#change('update', object.id, reasons, event)
  }

  get #frame(): { width: number; height: number } {
    return { width: this.#width, height: this.#height }
  }

  #change(
    kind: ObjectEventChange['kind'],
    id: string,
    reason: ObjectEventReason[],
    event: ActiveEvent,
  ): ObjectEventChange {
    const data: ObjectEventData = { ...event.data, zones: [...event.data.zones], box: [...event.data.box] }
    const change: ObjectEventChange = { kind, id, type: 'object', reason, data }
    if (reason.includes('snapshot') && event.best) change.snapshot = { box: { ...event.best.box } }
    return change
  }

  /** A pixel box as [x1, y1, x2, y2] relative to the frame, clamped to 0..1 (a box may overhang it). */
  #relative(box: Box): [number, number, number, number] {
    const x = (value: number) => clamp01(value / this.#width)
    const y = (value: number) => clamp01(value / this.#height)
    return [x(box.x1), y(box.y1), x(box.x2), y(box.y2)]
  }
}

/** The median the threshold is judged on, padded with zeros as ObjectFilter pads it. */
function paddedMedian(scores: readonly number[]): number {
  const padded = [...scores]
  while (padded.length < MIN_SCORES_FOR_MEDIAN) padded.push(0)
  return medianScore(padded)
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i])
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value))
}
