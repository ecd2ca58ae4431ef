/**
 * Decoders of the two YOLO output layouts the agent accepts into candidate detections in
 * model-input pixels (before the letterbox is undone). Pure: a Float32Array in, boxes out.
 *
 * - YOLOX (Megvii's export without decode-in-inference): `[1, anchors, 5 + classes]`, one row per
 *   grid cell of strides 8, 16 and 32 in that order, each grid row-major. Box offsets are relative
 *   to the cell, sizes are log-scale; objectness and class scores are already sigmoided.
 * - Ultralytics YOLOv8 / YOLO11: `[1, 4 + classes, anchors]`, channel-major (all cx, then all cy,
 *   ...), boxes already in input pixels, class scores without objectness.
 *
 * Each anchor proposes its best class only (as both reference post-processes do), then the score
 * filter, then class-wise NMS.
 */
import { yoloxAnchorRows } from '@ts-vms/shared'
import { type Candidate, DEFAULT_IOU_THRESHOLD, nmsByClass } from './nms.ts'

export type YoloFormat = 'yolox' | 'yolov8'

/** YOLOX's detection heads, finest first: the order of its output rows. */
export const YOLOX_STRIDES: readonly number[] = [8, 16, 32]

export interface Grid {
  stride: number
  width: number
  height: number
}

/**
 * The grids of a YOLOX model for an input size. Each stride-2 convolution rounds up, so a side
 * that is not a multiple of the stride still gets a partial cell.
 */
export function yoloxGrids(inputWidth: number, inputHeight: number): Grid[] {
  return YOLOX_STRIDES.map((stride) => ({
    stride,
    width: Math.ceil(inputWidth / stride),
    height: Math.ceil(inputHeight / stride),
  }))
}

/** How many output rows a YOLOX model of this input size has (3549 for 416x416): the shape check's own count. */
export const yoloxAnchorCount = yoloxAnchorRows

/** What the decoders need to know about the model besides its output. */
export interface OutputLayout {
  inputWidth: number
  inputHeight: number
  /** Number of classes (labels) the model scores. */
  classes: number
}

/** YOLOX rows to candidates scoring at least `minScore` (objectness x best class score). */
export function decodeYolox(output: Float32Array, layout: OutputLayout, minScore: number): Candidate[] {
  const { inputWidth, inputHeight, classes } = layout
  const rowLength = 5 + classes
  const anchors = yoloxAnchorCount(inputWidth, inputHeight)
  if (output.length !== anchors * rowLength) {
    throw new RangeError(
      `YOLOX output has ${output.length} values; a ${inputWidth}x${inputHeight} input with ` +
        `${classes} classes makes ${anchors} rows of ${rowLength}`,
    )
  }
  const found: Candidate[] = []
  let row = 0
  for (const { stride, width, height } of yoloxGrids(inputWidth, inputHeight)) {
    for (let gy = 0; gy < height; gy++) {
      for (let gx = 0; gx < width; gx++, row++) {
        const base = row * rowLength
        const objectness = output[base + 4]!
        // Class scores are at most 1, so a weak objectness cannot make the cut: skip the class scan.
        if (!(objectness >= minScore)) continue
        const classId = bestClass(output, base + 5, 1, classes)
        const score = objectness * output[base + 5 + classId]!
        if (!(score >= minScore)) continue
        const cx = (output[base]! + gx) * stride
        const cy = (output[base + 1]! + gy) * stride
        const w = Math.exp(output[base + 2]!) * stride
        const h = Math.exp(output[base + 3]!) * stride
        pushBox(found, cx, cy, w, h, score, classId)
      }
    }
  }
  return found
}

/** Ultralytics columns to candidates whose best class scores at least `minScore`. */
export function decodeYolov8(output: Float32Array, classes: number, minScore: number): Candidate[] {
  const channels = 4 + classes
  const anchors = output.length / channels
  if (!Number.isInteger(anchors)) {
    throw new RangeError(
      `YOLOv8 output has ${output.length} values, not a multiple of 4 + ${classes} classes`,
    )
  }
  const found: Candidate[] = []
  for (let a = 0; a < anchors; a++) {
    const classId = bestClass(output, 4 * anchors + a, anchors, classes)
    const classScore = output[(4 + classId) * anchors + a]!
    if (!(classScore >= minScore)) continue
    const cx = output[a]!
    const cy = output[anchors + a]!
    const w = output[2 * anchors + a]!
    const h = output[3 * anchors + a]!
    pushBox(found, cx, cy, w, h, classScore, classId)
  }
  return found
}

export interface DecodeOptions {
  minScore: number
  iouThreshold?: number
}

/** Decode either layout, then class-wise NMS: the detections of one inference, best first. */
export function decodeYoloOutput(
  format: YoloFormat,
  output: Float32Array,
  layout: OutputLayout,
  { minScore, iouThreshold = DEFAULT_IOU_THRESHOLD }: DecodeOptions,
): Candidate[] {
  const candidates =
    format === 'yolox'
      ? decodeYolox(output, layout, minScore)
      : decodeYolov8(output, layout.classes, minScore)
  return nmsByClass(candidates, iouThreshold)
}

/**
 * Which of `count` class scores, `step` apart from `start` (1: row-major; anchors: channel-major),
 * is the best. Returns the index only: this runs once per anchor, so it allocates nothing.
 */
function bestClass(output: Float32Array, start: number, step: number, count: number): number {
  let classId = 0
  let best = Number.NEGATIVE_INFINITY
  for (let c = 0, i = start; c < count; c++, i += step) {
    const s = output[i]!
    if (s > best) {
      best = s
      classId = c
    }
  }
  return classId
}

function pushBox(
  found: Candidate[],
  cx: number,
  cy: number,
  w: number,
  h: number,
  score: number,
  classId: number,
): void {
  // A degenerate or non-finite box (NaN from a broken model, zero size) is noise, not an object.
  if (!(w > 0 && h > 0 && Number.isFinite(cx) && Number.isFinite(cy) && Number.isFinite(w + h))) return
  found.push({ box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 }, score, classId })
}
