/**
 * What the analytics stages hand each other (Frigate's split: decode → motion → detect → track →
 * events). Boxes are in the analytics frame's pixels until an event reports them relative (0..1).
 */

/** A box in a frame's pixels: left, top, right, bottom (x2 > x1, y2 > y1). */
export interface Box {
  x1: number
  y1: number
  x2: number
  y2: number
}

/**
 * A decoded analytics frame, planar YUV 4:2:0 (ffmpeg's `yuv420p`): `width * height` bytes of
 * luma, then the U and V planes at half size each way. Width and height are even.
 */
export interface Frame {
  width: number
  height: number
  data: Buffer
  /** Wall-clock time of the frame (ms since the epoch), from the camera's timeline. */
  time: number
}

/** One object the detector found. */
export interface Detection {
  box: Box
  score: number
  /** Index into the model's labels. */
  classId: number
  label: string
}

/** Points and polygons in relative frame coordinates (0..1): the configuration's zones and masks. */
export type { Point, Polygon } from '@ts-vms/shared'
