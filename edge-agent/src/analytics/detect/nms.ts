/**
 * Non-maximum suppression: a detector proposes several overlapping boxes for one object; keep the
 * best-scored of each cluster. Class-wise, as YOLOX and Ultralytics do it, so a person on a bicycle
 * keeps both boxes even though they overlap heavily.
 */
import type { Box } from '../types.ts'

/** A detection before labels: box (in whatever pixels the caller works in), score, class index. */
export interface Candidate {
  box: Box
  score: number
  classId: number
}

/** Intersection over union of two boxes; 0 when either is empty. */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1)
  if (iw <= 0 || ih <= 0) return 0
  const inter = iw * ih
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
  return union > 0 ? inter / union : 0
}

/** The IoU above which a lower-scored box of the same class is taken as a duplicate (YOLOX's and Frigate's). */
export const DEFAULT_IOU_THRESHOLD = 0.45

/**
 * Greedy class-wise NMS: best score first, drop every later box of the same class whose IoU with a
 * kept one exceeds `iouThreshold`. Returns the kept candidates, best score first. The input is not
 * modified. Quadratic per class, which is fine for the few hundred candidates left after the score
 * filter.
 */
export function nmsByClass<T extends Candidate>(
  candidates: readonly T[],
  iouThreshold = DEFAULT_IOU_THRESHOLD,
): T[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score)
  const kept: T[] = []
  for (const c of sorted) {
    let duplicate = false
    for (const k of kept) {
      if (k.classId === c.classId && iou(k.box, c.box) > iouThreshold) {
        duplicate = true
        break
      }
    }
    if (!duplicate) kept.push(c)
  }
  return kept
}
