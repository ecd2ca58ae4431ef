/**
 * Where to run the detector on a frame, after Frigate's regions: instead of squeezing the whole
 * frame into the model's small square input (a 1920x1080 frame at 416 shrinks a person to a fifth
 * of their pixels), crop model-sized squares around what moves and what is being tracked, and skip
 * inference entirely when nothing does. Pure: frame geometry in, squares in frame pixels out.
 */
import type { TrackedObject } from '../track/byte-tracker.ts'
import type { Box } from '../types.ts'

/** What the planner needs of a tracked object (a `TrackedObject` fits as is). */
export type RegionTrackedObject = Pick<TrackedObject, 'id' | 'box' | 'stationary'>

export interface PlanRegionsInput {
  frameWidth: number
  frameHeight: number
  /** The detector's square input side (e.g. 416): a crop this size reaches the model unscaled. */
  modelSize: number
  /** Motion boxes from the motion detector, frame pixels. */
  motion: readonly Box[]
  /** Live tracked objects, frame pixels (predicted boxes may stick out of the frame). */
  tracked: readonly RegionTrackedObject[]
  /** Monotonic frame counter; drives the stationary rechecks. */
  frameIndex: number
  /** A stationary object gets a region once per this many frames (default 50). */
  stationaryRecheckFrames?: number
  /** Region side over the box's longer side when the box outgrows `modelSize` (default 1.2). */
  marginFactor?: number
  /**
   * Two regions merge when the square covering both has at most this many times the pixels of
   * their union (default 1.5). See `DEFAULT_MERGE_AREA_RATIO`.
   */
  mergeAreaRatio?: number
  /** A region covering at least this share of the frame becomes the whole frame (default 0.6). */
  wholeFrameAreaRatio?: number
}

export const DEFAULT_STATIONARY_RECHECK_FRAMES = 50

/** Frigate pads a tracked object's box by about a fifth so the detector sees its edges and context. */
export const DEFAULT_MARGIN_FACTOR = 1.2

/**
 * Merging saves a whole inference, but the merged square is scaled down harder, so small objects
 * lose pixels. Allowing the covering square at most 1.5x the pixels the two regions actually ask
 * for means at most a third of the merged input is area neither wanted and the scale drops by at
 * most ~1/sqrt(1.5) ≈ 0.82 relative to the union. Two model-sized squares that merely touch (ratio
 * 2, half the resolution) stay separate; heavily overlapping ones, or one inside another, merge.
 */
export const DEFAULT_MERGE_AREA_RATIO = 1.5

/**
 * Past this share of the frame a crop is barely smaller than the frame, so one whole-frame
 * inference covers everything else too at little extra downscale.
 */
export const DEFAULT_WHOLE_FRAME_AREA_RATIO = 0.6

/**
 * The squares (frame pixels, integer edges) to run the detector on this frame; [] means skip
 * inference. Every region lies inside the frame and contains the (frame-clipped) box it was made
 * for; regions are square unless the frame is smaller than the model or a box is too wide for any
 * square inside the frame, in which case the whole frame is the one region.
 */
export function planRegions(input: PlanRegionsInput): Box[] {
  const {
    frameWidth,
    frameHeight,
    modelSize,
    frameIndex,
    stationaryRecheckFrames = DEFAULT_STATIONARY_RECHECK_FRAMES,
    marginFactor = DEFAULT_MARGIN_FACTOR,
    mergeAreaRatio = DEFAULT_MERGE_AREA_RATIO,
    wholeFrameAreaRatio = DEFAULT_WHOLE_FRAME_AREA_RATIO,
  } = input
  requirePositiveInteger('frameWidth', frameWidth)
  requirePositiveInteger('frameHeight', frameHeight)
  requirePositiveInteger('modelSize', modelSize)
  requirePositiveInteger('stationaryRecheckFrames', stationaryRecheckFrames)
  if (!Number.isInteger(frameIndex) || frameIndex < 0) {
    throw new RangeError(`frameIndex must be a non-negative integer, got ${frameIndex}`)
  }
  if (!(marginFactor >= 1)) throw new RangeError(`marginFactor must be >= 1, got ${marginFactor}`)
  if (!(mergeAreaRatio >= 1)) throw new RangeError(`mergeAreaRatio must be >= 1, got ${mergeAreaRatio}`)

  const frame: Frame = { width: frameWidth, height: frameHeight }
  const sources: Box[] = [...input.motion]
  for (const object of input.tracked) {
    if (!object.stationary || isStationaryRecheckDue(object.id, frameIndex, stationaryRecheckFrames)) {
      sources.push(object.box)
    }
  }
  const wanted = sources.map((box) => clipToFrame(box, frame)).filter((box) => box !== null)
  if (wanted.length === 0) return []

  const wholeFrame: Box = { x1: 0, y1: 0, x2: frameWidth, y2: frameHeight }
  // The detector letterboxes a frame no bigger than its input without shrinking it: nothing to gain by cropping.
  if (Math.max(frameWidth, frameHeight) <= modelSize) return [wholeFrame]

  const minimumSide = Math.min(modelSize, frameWidth, frameHeight)
  const regions = wanted.map((box) =>
    squareAround(box, Math.max(minimumSide, Math.ceil(longerSide(box) * marginFactor)), frame),
  )
  const frameArea = frameWidth * frameHeight
  const coversMostOfFrame = (region: Box) => area(region) >= wholeFrameAreaRatio * frameArea
  if (regions.some(coversMostOfFrame)) return [wholeFrame]

  const merged = mergeRegions(regions, frame, mergeAreaRatio)
  if (merged.some(coversMostOfFrame)) return [wholeFrame]
  return merged.sort((a, b) => a.y1 - b.y1 || a.x1 - b.x1 || a.x2 - b.x2 || a.y2 - b.y2)
}

/**
 * A stable per-object phase in [0, everyFrames): objects that went stationary on the same frame
 * (a row of parked cars seen at start-up) are rechecked on different frames, not all at once.
 */
export function stationaryRecheckPhase(id: string, everyFrames: number): number {
  return fnv1a32(id) % everyFrames
}

/** Whether a stationary object is due its periodic detector recheck on this frame. */
export function isStationaryRecheckDue(id: string, frameIndex: number, everyFrames: number): boolean {
  return (frameIndex + stationaryRecheckPhase(id, everyFrames)) % everyFrames === 0
}

/** Whether `box` lies fully inside at least one of `regions` (edges inclusive). */
export function isBoxCoveredByRegions(regions: readonly Box[], box: Box): boolean {
  return regions.some((r) => r.x1 <= box.x1 && r.y1 <= box.y1 && r.x2 >= box.x2 && r.y2 >= box.y2)
}

interface Frame {
  width: number
  height: number
}

/**
 * Greedy agglomeration: repeatedly merge the pair whose covering square wastes the least (lowest
 * covering-area / union-area), while that stays within `maxAreaRatio`. Regions are few (a handful
 * per frame), so the cubic cost is irrelevant and the best-pair-first order keeps it deterministic.
 */
function mergeRegions(regions: Box[], frame: Frame, maxAreaRatio: number): Box[] {
  const current = [...regions]
  for (;;) {
    let best: { i: number; j: number; cover: Box; ratio: number } | null = null
    for (let i = 0; i < current.length; i++) {
      for (let j = i + 1; j < current.length; j++) {
        const a = current[i]!
        const b = current[j]!
        const union = area(a) + area(b) - intersectionArea(a, b)
        const cover = squareAround(boundingBox(a, b), 0, frame)
        const ratio = area(cover) / union
        if (ratio <= maxAreaRatio && (best === null || ratio < best.ratio)) best = { i, j, cover, ratio }
      }
    }
    if (best === null) return current
    current.splice(best.j, 1)
    current.splice(best.i, 1, best.cover)
  }
}

/**
 * The square of side `max(minSide, box's longer side)` (capped by the frame), centred on the box
 * and then shifted, never shrunk, to lie inside the frame. Edges are integers (crops are whole
 * pixels) and still contain the box. A box wider or taller than any square the frame can hold gets
 * the whole frame instead.
 */
function squareAround(box: Box, minSide: number, frame: Frame): Box {
  const x1 = Math.floor(box.x1)
  const y1 = Math.floor(box.y1)
  const x2 = Math.ceil(box.x2)
  const y2 = Math.ceil(box.y2)
  const boxSide = Math.max(x2 - x1, y2 - y1)
  const frameSide = Math.min(frame.width, frame.height)
  if (boxSide > frameSide) return { x1: 0, y1: 0, x2: frame.width, y2: frame.height }
  const side = Math.min(frameSide, Math.max(boxSide, Math.ceil(minSide)))
  // Flooring the centred start loses at most half a pixel, and only when side > box side, so the
  // square still reaches the box's far edge; shifting back into the frame keeps it around the box
  // because the box itself is inside the frame.
  const left = clamp(Math.floor((x1 + x2 - side) / 2), 0, frame.width - side)
  const top = clamp(Math.floor((y1 + y2 - side) / 2), 0, frame.height - side)
  return { x1: left, y1: top, x2: left + side, y2: top + side }
}

/** The part of `box` inside the frame, or null when none of it is (a prediction drifted off-screen). */
function clipToFrame(box: Box, frame: Frame): Box | null {
  const clipped = {
    x1: Math.max(0, box.x1),
    y1: Math.max(0, box.y1),
    x2: Math.min(frame.width, box.x2),
    y2: Math.min(frame.height, box.y2),
  }
  return clipped.x2 > clipped.x1 && clipped.y2 > clipped.y1 ? clipped : null
}

function boundingBox(a: Box, b: Box): Box {
  return {
    x1: Math.min(a.x1, b.x1),
    y1: Math.min(a.y1, b.y1),
    x2: Math.max(a.x2, b.x2),
    y2: Math.max(a.y2, b.y2),
  }
}

function intersectionArea(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1)
  return w > 0 && h > 0 ? w * h : 0
}

function area(box: Box): number {
  return (box.x2 - box.x1) * (box.y2 - box.y1)
}

function longerSide(box: Box): number {
  return Math.max(box.x2 - box.x1, box.y2 - box.y1)
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value))
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`)
  }
}

/** FNV-1a over the id's UTF-16 code units: cheap, stable across runs, well spread for short ids. */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}
