/**
 * Event snapshots as JPEG, the way Frigate serves them: the whole analytics frame when the event
 * fires, and on request the same picture with the object's box drawn on it (`?box=true`) or
 * cropped to the object (`?crop=true`).
 *
 * letterbox.ts converts YUV to RGB while sampling into the model tensor and exports no converter,
 * so the frame's conversion lives here: one pass into one RGB buffer that sharp encodes.
 */
import sharp from 'sharp'
import type { Frame } from '../types.ts'

/** A box relative to the image (0..1): left, top, right, bottom. */
export type RelativeBox = readonly [x1: number, y1: number, x2: number, y2: number]

export interface EncodeSnapshotOptions {
  /** JPEG quality 1..100 (default 85: Frigate's snapshot default, small and without visible blocks). */
  quality?: number
  /** Scale down to at most this width, keeping the aspect ratio; never enlarged. */
  maxWidth?: number
}

export interface AnnotateSnapshotOptions {
  /** Draw the box's outline. */
  drawBox?: boolean
  /** Cut the image down to the box and a margin around it. */
  crop?: boolean
  /** Text written above the box when it is drawn, e.g. `person 87%`. */
  label?: string
  /** JPEG quality of the result 1..100 (default 85). */
  quality?: number
}

/** Thrown when the bytes handed to annotateSnapshot are not a readable JPEG. */
export class NotJpegError extends Error {
  override readonly name = 'NotJpegError'
}

export const DEFAULT_SNAPSHOT_QUALITY = 85
/** Margin added on each side of a cropped box, as a fraction of the box's width or height. */
export const CROP_MARGIN = 0.15
/**
 * Smallest side of a crop in pixels (less when the image itself is smaller): a distant object's
 * box can be a dozen pixels, too little to recognise anything in the picture.
 */
export const MIN_CROP_SIZE = 64
/** Outline colour: bright red reads on both daylight and night (grey) pictures. */
export const BOX_COLOUR = '#ff0000'

/**
 * A yuv420p frame (BT.601 limited range, what cameras' H.264/H.265 streams carry) to packed RGB,
 * 3 bytes a pixel. Each 2x2 block of pixels shares its chroma sample (nearest, no interpolation):
 * good enough for a picture people look at, and one pass without allocations per pixel. Pass `out`
 * (`3 * width * height` bytes) to reuse a buffer.
 */
export function yuv420pToRgb(frame: Frame, out?: Buffer): Buffer {
  checkFrame(frame)
  const { width, height } = frame
  // Plain Uint8Array views: V8 indexes a Buffer (a subclass) through a slower, polymorphic path.
  const src = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length)
  const rgb = out ?? Buffer.allocUnsafe(width * height * 3)
  if (rgb.length !== width * height * 3) {
    throw new RangeError(
      `RGB buffer holds ${rgb.length} bytes, a ${width}x${height} image needs ${width * height * 3}`,
    )
  }
  const dst = new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length)
  const chromaWidth = width / 2
  const uBase = width * height
  const vBase = uBase + chromaWidth * (height / 2)
  let o = 0
  for (let y = 0; y < height; y++) {
    const lumaRow = y * width
    const chromaRow = (y >> 1) * chromaWidth
    for (let x = 0; x < width; x++) {
      const c = 1.164383 * (src[lumaRow + x]! - 16)
      const d = src[uBase + chromaRow + (x >> 1)]! - 128
      const e = src[vBase + chromaRow + (x >> 1)]! - 128
      dst[o++] = toByte(c + 1.596027 * e)
      dst[o++] = toByte(c - 0.391762 * d - 0.812968 * e)
      dst[o++] = toByte(c + 2.017232 * d)
    }
  }
  return rgb
}

/** The whole frame as a JPEG, optionally scaled down to `maxWidth`. */
export async function encodeSnapshot(frame: Frame, o: EncodeSnapshotOptions = {}): Promise<Buffer> {
  const quality = checkQuality(o.quality)
  if (o.maxWidth !== undefined && !(Number.isInteger(o.maxWidth) && o.maxWidth > 0)) {
    throw new RangeError(`maxWidth must be a positive whole number of pixels, not ${o.maxWidth}`)
  }
  const rgb = yuv420pToRgb(frame)
  let image = sharp(rgb, { raw: { width: frame.width, height: frame.height, channels: 3 } })
  if (o.maxWidth !== undefined && o.maxWidth < frame.width) {
    image = image.resize({ width: o.maxWidth })
  }
  return image.jpeg({ quality }).toBuffer()
}

/** A region of an image in whole pixels. */
export interface PixelRegion {
  left: number
  top: number
  width: number
  height: number
}

/**
 * Where a crop around `box` lands in a `width` x `height` image: the box widened by CROP_MARGIN
 * on each side, grown about its centre to at least MIN_CROP_SIZE (or the image size) on each
 * axis, then shifted and clamped to lie inside the image.
 */
export function snapshotCropRegion(width: number, height: number, box: RelativeBox): PixelRegion {
  checkBox(box)
  const [x1, y1, x2, y2] = box
  const [left, cropWidth] = cropAxis(x1 * width, x2 * width, width)
  const [top, cropHeight] = cropAxis(y1 * height, y2 * height, height)
  return { left, top, width: cropWidth, height: cropHeight }
}

/**
 * A snapshot with the object's box drawn on it and/or cropped to it (both: the crop shows the
 * outline). Without either it is returned as it is. Boxes outside 0..1 or empty are a RangeError,
 * bytes that are not a JPEG a NotJpegError.
 */
export async function annotateSnapshot(
  jpeg: Buffer,
  box: RelativeBox,
  o: AnnotateSnapshotOptions,
): Promise<Buffer> {
  checkBox(box)
  const quality = checkQuality(o.quality)
  if (!isJpeg(jpeg)) {
    throw new NotJpegError(
      `snapshot is not a JPEG (it starts with ${jpeg.subarray(0, 4).toString('hex') || 'nothing'})`,
    )
  }
  if (!o.drawBox && !o.crop) return jpeg
  let size: { width: number; height: number }
  try {
    const meta = await sharp(jpeg).metadata()
    if (meta.format !== 'jpeg') throw new Error(`sharp reads it as ${meta.format}`)
    size = { width: meta.width, height: meta.height }
  } catch (err) {
    throw new NotJpegError(`snapshot is not a readable JPEG: ${messageOf(err)}`, { cause: err })
  }
  const region = o.crop ? snapshotCropRegion(size.width, size.height, box) : { left: 0, top: 0, ...size }
  // sharp extracts before it composites whatever the call order, so the outline is drawn in the
  // crop's coordinates: one decode and one encode either way.
  let image = sharp(jpeg)
  if (o.crop) image = image.extract(region)
  if (o.drawBox) {
    const overlay = boxOverlaySvg(size, region, box, o.label)
    image = image.composite([{ input: Buffer.from(overlay), left: 0, top: 0 }])
  }
  try {
    // 4:4:4: chroma subsampling would smear a few-pixel red outline into the grey around it.
    return await image.jpeg({ quality, chromaSubsampling: o.drawBox ? '4:4:4' : '4:2:0' }).toBuffer()
  } catch (err) {
    throw new NotJpegError(`snapshot is not a readable JPEG: ${messageOf(err)}`, { cause: err })
  }
}

/**
 * An SVG the size of `region` with the box's outline (stroked inside the box, so the box's edge
 * pixels are the outline) and, if given, the label on a filled tab above the box (inside the box
 * when there is no room above).
 */
function boxOverlaySvg(
  image: { width: number; height: number },
  region: PixelRegion,
  box: RelativeBox,
  label: string | undefined,
): string {
  const stroke = Math.max(3, Math.round(Math.min(image.width, image.height) / 100))
  const x1 = box[0] * image.width - region.left
  const y1 = box[1] * image.height - region.top
  const x2 = box[2] * image.width - region.left
  const y2 = box[3] * image.height - region.top
  const rect =
    `<rect x="${x1 + stroke / 2}" y="${y1 + stroke / 2}" ` +
    `width="${Math.max(0, x2 - x1 - stroke)}" height="${Math.max(0, y2 - y1 - stroke)}" ` +
    `fill="none" stroke="${BOX_COLOUR}" stroke-width="${stroke}"/>`
  let text = ''
  if (label) {
    const fontSize = stroke * 5
    const tabHeight = Math.round(fontSize * 1.3)
    const tabTop = y1 >= tabHeight ? y1 - tabHeight : y1
    const tabWidth = Math.round(label.length * fontSize * 0.62 + stroke * 2)
    text =
      `<rect x="${x1}" y="${tabTop}" width="${tabWidth}" height="${tabHeight}" fill="${BOX_COLOUR}"/>` +
      `<text x="${x1 + stroke}" y="${tabTop + fontSize}" font-family="DejaVu Sans, sans-serif" ` +
      `font-size="${fontSize}" fill="#ffffff">${escapeXml(label)}</text>`
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${region.width}" height="${region.height}">` +
    `${rect}${text}</svg>`
  )
}

/** One axis of a crop: [start, length] in whole pixels. */
function cropAxis(lo: number, hi: number, size: number): [number, number] {
  const margin = (hi - lo) * CROP_MARGIN
  let start = Math.floor(lo - margin)
  let end = Math.ceil(hi + margin)
  const minimum = Math.min(MIN_CROP_SIZE, size)
  if (end - start < minimum) {
    const grow = minimum - (end - start)
    start -= Math.floor(grow / 2)
    end += Math.ceil(grow / 2)
  }
  // Shift back inside before clamping, so a small box at the edge still gets the minimum size.
  if (start < 0) {
    end = Math.min(size, end - start)
    start = 0
  }
  if (end > size) {
    start = Math.max(0, start - (end - size))
    end = size
  }
  return [start, end - start]
}

function checkBox(box: RelativeBox): void {
  if (!Array.isArray(box) || box.length !== 4) {
    throw new RangeError(`box must be [x1, y1, x2, y2], not ${JSON.stringify(box)}`)
  }
  const [x1, y1, x2, y2] = box
  // Written to reject NaN too.
  if (!box.every((v) => typeof v === 'number' && v >= 0 && v <= 1)) {
    throw new RangeError(`box [${box.join(', ')}] must be relative to the image: every value in 0..1`)
  }
  if (!(x2 > x1 && y2 > y1)) {
    throw new RangeError(`box [${box.join(', ')}] is empty: x2 must exceed x1 and y2 must exceed y1`)
  }
}

function checkQuality(quality: number | undefined): number {
  const q = quality ?? DEFAULT_SNAPSHOT_QUALITY
  if (!(Number.isInteger(q) && q >= 1 && q <= 100)) {
    throw new RangeError(`JPEG quality must be a whole number in 1..100, not ${quality}`)
  }
  return q
}

function checkFrame(frame: Frame): void {
  const { width, height, data } = frame
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`frame size ${width}x${height} is not a positive whole size`)
  }
  if (width % 2 !== 0 || height % 2 !== 0) {
    throw new RangeError(`yuv420p frame ${width}x${height} is not even`)
  }
  if (data.length < (width * height * 3) / 2) {
    throw new RangeError(
      `frame data holds ${data.length} bytes, a ${width}x${height} yuv420p frame needs more`,
    )
  }
}

/** JPEG files start with SOI (FF D8) and then a marker (FF). */
function isJpeg(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * A value to store in a byte: stores into a Buffer wrap modulo 256 and truncate, so clamp here
 * and add 0.5 to round.
 */
function toByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : v + 0.5
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
