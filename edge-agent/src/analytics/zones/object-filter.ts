/**
 * Which detections count, with the semantics of Frigate's object filters: `minScore`, `minArea`,
 * `maxArea` and object masks drop single detections before tracking; `threshold` decides, from the
 * median of a tracked object's recent scores, whether it is real enough to become an event.
 *
 * The options mirror the camera's analytics configuration (`shared/src/analytics/analytics-config.ts`),
 * which holds one set of filters for all the camera's objects.
 */
import { boxBottomCentre, isSelfIntersecting, pointInPolygon } from '@ts-vms/shared'
import type { Detection, Polygon } from '../types.ts'

/** Frigate's default `min_score`: a single detection below it is noise. */
export const DEFAULT_MIN_SCORE = 0.5
/** Frigate's default `threshold` for the median score that makes an object an event. */
export const DEFAULT_THRESHOLD = 0.7
/** How many of an object's latest scores the median looks at (Frigate keeps 10). */
export const RECENT_SCORE_COUNT = 10
/**
 * Frigate pads a short history with zeros up to 3 scores, so the median reaches the threshold only
 * once two frames have: one lucky frame never makes an event.
 */
export const MIN_SCORES_FOR_MEDIAN = 3

export interface ObjectFilterOptions {
  /** The analytics frame the detection boxes are in, in pixels. */
  width: number
  height: number
  /** Labels the camera cares about; every other label is dropped. */
  objects: readonly string[]
  /** Default {@link DEFAULT_MIN_SCORE}. */
  minScore?: number
  /** Default {@link DEFAULT_THRESHOLD}. */
  threshold?: number
  /** Fraction of the frame area (0..1) below which a box is too small to be real; default 0. */
  minArea?: number
  /** Fraction of the frame area (0..1) above which a box is too big to be real; absent = no limit. */
  maxArea?: number
  /** Relative polygons where objects are never real: a poster of a person, a statue. */
  objectMasks?: readonly Polygon[]
}

/**
 * The median of the scores, each non-finite or out-of-range (not 0..1) score counting as 0 so a
 * hostile value can never lift it; 0 for no scores. An even count averages the middle two.
 */
export function medianScore(scores: readonly number[]): number {
  if (scores.length === 0) return 0
  const sorted = scores.map(saneScore).sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length % 2 === 1) return sorted[middle]!
  return (sorted[middle - 1]! + sorted[middle]!) / 2
}

function saneScore(score: number): number {
  return Number.isFinite(score) && score >= 0 && score <= 1 ? score : 0
}

export class ObjectFilter {
  readonly #width: number
  readonly #height: number
  readonly #objects: ReadonlySet<string>
  readonly #minScore: number
  readonly #threshold: number
  readonly #minArea: number
  readonly #maxArea: number
  readonly #objectMasks: readonly Polygon[]

  /** Throws a RangeError on a configuration that would silently let everything, or nothing, through. */
  constructor(options: ObjectFilterOptions) {
    requirePositive('width', options.width)
    requirePositive('height', options.height)
    this.#width = options.width
    this.#height = options.height
    this.#objects = new Set(options.objects)
    this.#minScore = requireFraction('minScore', options.minScore ?? DEFAULT_MIN_SCORE)
    this.#threshold = requireFraction('threshold', options.threshold ?? DEFAULT_THRESHOLD)
    this.#minArea = requireFraction('minArea', options.minArea ?? 0)
    this.#maxArea = requireFraction('maxArea', options.maxArea ?? 1)
    if (this.#maxArea < this.#minArea) throw new RangeError('maxArea is below minArea')
    this.#objectMasks = options.objectMasks ?? []
    for (const mask of this.#objectMasks) requireSimplePolygon('object mask', mask)
  }

  /**
   * Whether a single detection counts: a label the camera tracks, a score of at least `minScore`,
   * a box area within `minArea..maxArea` of the frame, and its bottom-centre outside every object
   * mask. The bottom-centre, not the box, because it is where the object touches the ground: a
   * mask is drawn on the ground it covers, and the rest of a box leans over whatever is behind or
   * in front (a person walking past a masked poster is kept though their box covers it; a person
   * standing in the masked spot is dropped though their box reaches far out of it).
   *
   * Comparisons are written so NaN fails them (`!(x >= min)` rather than `x < min`).
   */
  keepDetection(detection: Detection): boolean {
    if (!this.#objects.has(detection.label)) return false
    const { score, box } = detection
    if (!(score >= this.#minScore && score <= 1)) return false
    // Both sides positive, so an inverted box's negative × negative is not mistaken for an area.
    if (!(box.x2 > box.x1 && box.y2 > box.y1)) return false
    const area = ((box.x2 - box.x1) * (box.y2 - box.y1)) / (this.#width * this.#height)
    if (!(area >= this.#minArea && area <= this.#maxArea)) return false
    if (this.#objectMasks.length === 0) return true
    const feet = boxBottomCentre(box, this.#width, this.#height)
    return !this.#objectMasks.some((mask) => pointInPolygon(feet, mask))
  }

  /**
   * Whether a tracked object is real enough to become an event: the median of its latest
   * {@link RECENT_SCORE_COUNT} scores, padded with zeros to {@link MIN_SCORES_FOR_MEDIAN}, reaches
   * `threshold`. Pass a 0 for a frame the object was tracked but not detected in, as Frigate does.
   */
  passesThreshold(scores: readonly number[]): boolean {
    const recent = scores.slice(-RECENT_SCORE_COUNT)
    while (recent.length < MIN_SCORES_FOR_MEDIAN) recent.push(0)
    return medianScore(recent) >= this.#threshold
  }
}

function requirePositive(name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number`)
}

function requireFraction(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be between 0 and 1`)
  return value
}

/**
 * A mask or zone needs at least three finite vertices and must not cross itself: a crossing polygon
 * has no single inside. The configuration schema refuses these already; this guards the agent
 * against a polygon that reached it some other way.
 */
export function requireSimplePolygon(name: string, polygon: Polygon): void {
  if (polygon.length < 3 || !polygon.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y))) {
    throw new RangeError(`${name} needs at least three finite vertices`)
  }
  if (isSelfIntersecting(polygon)) throw new RangeError(`${name} crosses itself`)
}
