/**
 * From a region of a yuv420p analytics frame to a YOLO model's input tensor, and back.
 *
 * The region is cropped, scaled to fit the model input keeping its aspect ratio and padded with
 * grey 114, the way each model family was trained and exported:
 * - YOLOX (Megvii's `preproc`): BGR, values 0..255, image anchored top-left;
 * - Ultralytics YOLOv8/YOLO11 (`LetterBox`): RGB, values 0..1, image centred.
 * Sampling is bilinear with edge replication inside the region, as `cv2.resize(INTER_LINEAR)` on
 * the crop in both reference pre-processes, so the published scores of a model reproduce here.
 * Colour is BT.601 limited range (what cameras' H.264/H.265 streams carry), converted while
 * sampling: no RGB copy of the frame, and no allocation per pixel.
 */
import type { Box, Frame } from '../types.ts'
import type { YoloFormat } from './yolo-output.ts'

/** The grey both families pad with (in 0..255). */
export const PAD_VALUE = 114

export interface InputSize {
  width: number
  height: number
}

/** How model-input pixels relate to frame pixels: `model = (frame - region) * scale + pad`. */
export interface LetterboxMapping {
  /** Model pixels per frame pixel (same on both axes: the aspect ratio is kept). */
  scale: number
  /** Model pixels of padding left of and above the image. */
  padX: number
  padY: number
  /** Frame pixel of the (whole-pixel) region's top-left corner. */
  regionX: number
  regionY: number
  /** Where boxes are clamped to. */
  frameWidth: number
  frameHeight: number
}

export interface Letterboxed {
  /** The model input, CHW float32, `3 * width * height` values. */
  data: Float32Array
  mapping: LetterboxMapping
  /** A box in model-input pixels to frame pixels, clamped to the frame. */
  toFrame(box: Box): Box
}

/** Where the scaled image lands in the model input. */
export interface LetterboxGeometry {
  scale: number
  padX: number
  padY: number
  /** Size of the scaled image inside the input. */
  width: number
  height: number
}

interface Style {
  /** Input plane of the red, green and blue channel. */
  red: number
  green: number
  blue: number
  /** Multiplier from 0..255 to what the model wants. */
  valueScale: number
}

const STYLES: Record<YoloFormat, Style> = {
  yolox: { red: 2, green: 1, blue: 0, valueScale: 1 },
  yolov8: { red: 0, green: 1, blue: 2, valueScale: 1 / 255 },
}

/** Scale and padding for a region of this size, per family (YOLOX top-left, Ultralytics centred). */
export function letterboxGeometry(
  regionWidth: number,
  regionHeight: number,
  input: InputSize,
  format: YoloFormat,
): LetterboxGeometry {
  const scale = Math.min(input.width / regionWidth, input.height / regionHeight)
  const width = Math.min(input.width, Math.max(1, Math.round(regionWidth * scale)))
  const height = Math.min(input.height, Math.max(1, Math.round(regionHeight * scale)))
  if (format === 'yolox') return { scale, padX: 0, padY: 0, width, height }
  // Ultralytics splits odd padding with round(d - 0.1) before and round(d + 0.1) after, and undoes
  // it with the same round(d - 0.1): a box maps back to where its pixels came from.
  // (max: no padding rounds to -0.)
  const padX = Math.max(0, Math.round((input.width - width) / 2 - 0.1))
  const padY = Math.max(0, Math.round((input.height - height) / 2 - 0.1))
  return { scale, padX, padY, width, height }
}

/** A box in model-input pixels to frame pixels, clamped to the frame (it may then be empty). */
export function modelBoxToFrame(box: Box, m: LetterboxMapping): Box {
  const x = (v: number) => clamp(m.regionX + (v - m.padX) / m.scale, 0, m.frameWidth)
  const y = (v: number) => clamp(m.regionY + (v - m.padY) / m.scale, 0, m.frameHeight)
  return { x1: x(box.x1), y1: y(box.y1), x2: x(box.x2), y2: y(box.y2) }
}

/**
 * The model input for `region` of `frame`. The region is widened to whole pixels and clipped to
 * the frame; a region with nothing of the frame in it is a RangeError. Pass `out` (length
 * `3 * width * height`) to reuse one tensor buffer across calls.
 */
export function letterbox(
  frame: Frame,
  region: Box,
  input: InputSize,
  format: YoloFormat,
  out?: Float32Array,
): Letterboxed {
  checkFrame(frame)
  const crop = clipRegion(region, frame)
  const size = input.width * input.height
  const data = out ?? new Float32Array(3 * size)
  if (data.length !== 3 * size) {
    throw new RangeError(`tensor buffer holds ${data.length} values, the input needs ${3 * size}`)
  }
  const geometry = letterboxGeometry(crop.width, crop.height, input, format)
  const style = STYLES[format]
  fillPadding(data, geometry, input, PAD_VALUE * style.valueScale)
  sampleRegion(frame, crop, geometry, input, style, data)
  const mapping: LetterboxMapping = {
    scale: geometry.scale,
    padX: geometry.padX,
    padY: geometry.padY,
    regionX: crop.x,
    regionY: crop.y,
    frameWidth: frame.width,
    frameHeight: frame.height,
  }
  return { data, mapping, toFrame: (box) => modelBoxToFrame(box, mapping) }
}

interface Crop {
  x: number
  y: number
  width: number
  height: number
}

function checkFrame(frame: Frame): void {
  const { width, height, data } = frame
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`frame size ${width}x${height} is not a positive whole size`)
  }
  if (width % 2 !== 0 || height % 2 !== 0)
    throw new RangeError(`yuv420p frame ${width}x${height} is not even`)
  if (data.length < (width * height * 3) / 2) {
    throw new RangeError(
      `frame data holds ${data.length} bytes, a ${width}x${height} yuv420p frame needs more`,
    )
  }
}

function clipRegion(region: Box, frame: Frame): Crop {
  const x1 = Math.max(0, Math.floor(region.x1))
  const y1 = Math.max(0, Math.floor(region.y1))
  const x2 = Math.min(frame.width, Math.ceil(region.x2))
  const y2 = Math.min(frame.height, Math.ceil(region.y2))
  // Written to reject NaN too.
  if (!(x2 > x1 && y2 > y1)) {
    throw new RangeError(
      `region (${region.x1}, ${region.y1})-(${region.x2}, ${region.y2}) has no pixels in the ` +
        `${frame.width}x${frame.height} frame`,
    )
  }
  return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }
}

/** Bilinear taps along one axis: for each output pixel, two source indices and a weight. */
interface Taps {
  i0: Int32Array
  i1: Int32Array
  f: Float32Array
}

function makeTaps(length: number): Taps {
  return { i0: new Int32Array(length), i1: new Int32Array(length), f: new Float32Array(length) }
}

function setTap(taps: Taps, d: number, position: number, lo: number, hi: number): void {
  const p = clamp(position, lo, hi)
  const i0 = Math.floor(p)
  taps.i0[d] = i0
  taps.i1[d] = Math.min(i0 + 1, hi)
  taps.f[d] = p - i0
}

/**
 * Taps of the luma and chroma planes along one axis for `count` output pixels. The source position
 * of output pixel d is the centre-aligned `(d + 0.5) / scale - 0.5` of cv2.resize, clamped to the
 * crop (edge replication, as a resize of the cropped image). Chroma follows H.264's default siting
 * (chroma_sample_loc_type 0): co-sited with the even luma columns, midway between luma rows.
 */
function axisTaps(count: number, scale: number, start: number, length: number, horizontal: boolean) {
  const luma = makeTaps(count)
  const chroma = makeTaps(count)
  const chromaLo = Math.floor(start / 2)
  const chromaHi = Math.floor((start + length - 1) / 2)
  for (let d = 0; d < count; d++) {
    const p = start + clamp((d + 0.5) / scale - 0.5, 0, length - 1)
    setTap(luma, d, p, start, start + length - 1)
    setTap(chroma, d, horizontal ? p / 2 : (p - 0.5) / 2, chromaLo, chromaHi)
  }
  return { luma, chroma }
}

function sampleRegion(
  frame: Frame,
  crop: Crop,
  geometry: LetterboxGeometry,
  input: InputSize,
  style: Style,
  out: Float32Array,
): void {
  // A plain Uint8Array view, not the Buffer itself: V8 reads a Buffer (a Uint8Array subclass)
  // through a slower, polymorphic path (2-3x on this loop).
  const src = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length)
  const lumaStride = frame.width
  const chromaStride = frame.width / 2
  const uBase = frame.width * frame.height
  const vBase = uBase + chromaStride * (frame.height / 2)
  const cols = axisTaps(geometry.width, geometry.scale, crop.x, crop.width, true)
  const rows = axisTaps(geometry.height, geometry.scale, crop.y, crop.height, false)
  const plane = input.width * input.height
  const redBase = style.red * plane
  const greenBase = style.green * plane
  const blueBase = style.blue * plane
  const k = style.valueScale
  // Separable: each output row first blends its two source rows (luma, and both chroma planes)
  // over the crop's columns, then each output pixel blends two neighbours of those blended rows.
  // Indices into the blended rows are relative to the crop's first column (chroma: its first
  // chroma column).
  const lumaX0 = crop.x
  const chromaX0 = Math.floor(crop.x / 2)
  const lumaSpan = crop.width
  const chromaSpan = Math.floor((crop.x + crop.width - 1) / 2) - chromaX0 + 1
  const yRow = new Float64Array(lumaSpan)
  const uRow = new Float64Array(chromaSpan)
  const vRow = new Float64Array(chromaSpan)
  const lx0 = new Int32Array(geometry.width)
  const lx1 = new Int32Array(geometry.width)
  const cx0 = new Int32Array(geometry.width)
  const cx1 = new Int32Array(geometry.width)
  for (let dx = 0; dx < geometry.width; dx++) {
    lx0[dx] = cols.luma.i0[dx]! - lumaX0
    lx1[dx] = cols.luma.i1[dx]! - lumaX0
    cx0[dx] = cols.chroma.i0[dx]! - chromaX0
    cx1[dx] = cols.chroma.i1[dx]! - chromaX0
  }
  const lfx = cols.luma.f
  const cfx = cols.chroma.f

  for (let dy = 0; dy < geometry.height; dy++) {
    const ly0 = rows.luma.i0[dy]! * lumaStride + lumaX0
    const ly1 = rows.luma.i1[dy]! * lumaStride + lumaX0
    const lfy = rows.luma.f[dy]!
    for (let i = 0; i < lumaSpan; i++) {
      const a = src[ly0 + i]!
      yRow[i] = a + (src[ly1 + i]! - a) * lfy
    }
    const cy0 = rows.chroma.i0[dy]! * chromaStride + chromaX0
    const cy1 = rows.chroma.i1[dy]! * chromaStride + chromaX0
    const cfy = rows.chroma.f[dy]!
    for (let i = 0; i < chromaSpan; i++) {
      const a = src[uBase + cy0 + i]!
      uRow[i] = a + (src[uBase + cy1 + i]! - a) * cfy
      const b = src[vBase + cy0 + i]!
      vRow[i] = b + (src[vBase + cy1 + i]! - b) * cfy
    }
    let o = (geometry.padY + dy) * input.width + geometry.padX
    for (let dx = 0; dx < geometry.width; dx++, o++) {
      const fx = lfx[dx]!
      const ya = yRow[lx0[dx]!]!
      const y = ya + (yRow[lx1[dx]!]! - ya) * fx
      const gx = cfx[dx]!
      const c0 = cx0[dx]!
      const c1 = cx1[dx]!
      const ua = uRow[c0]!
      const u = ua + (uRow[c1]! - ua) * gx
      const va = vRow[c0]!
      const v = va + (vRow[c1]! - va) * gx
      // BT.601, limited range (Y 16..235, Cb/Cr 16..240) to full-range RGB.
      const c = 1.164383 * (y - 16)
      const d = u - 128
      const e = v - 128
      out[redBase + o] = clamp255(c + 1.596027 * e) * k
      out[greenBase + o] = clamp255(c - 0.391762 * d - 0.812968 * e) * k
      out[blueBase + o] = clamp255(c + 2.017232 * d) * k
    }
  }
}

/** Pads around the image in each plane (the image itself is written by `sampleRegion`). */
function fillPadding(data: Float32Array, g: LetterboxGeometry, input: InputSize, value: number): void {
  const plane = input.width * input.height
  const imageStart = g.padY * input.width
  const imageEnd = (g.padY + g.height) * input.width
  for (let c = 0; c < 3; c++) {
    const base = c * plane
    data.fill(value, base, base + imageStart)
    data.fill(value, base + imageEnd, base + plane)
    if (g.width === input.width) continue
    for (let y = g.padY; y < g.padY + g.height; y++) {
      const row = base + y * input.width
      data.fill(value, row, row + g.padX)
      data.fill(value, row + g.padX + g.width, row + input.width)
    }
  }
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v
}
