/**
 * The motion gate: where did the picture change, so the object detector runs only when (and
 * roughly where) something moves. Frigate's "improved" motion detector, in typed arrays: the
 * luma plane shrunk to ~100 px high, compared with a running-average background, thresholded,
 * dilated, split into connected regions whose boxes are scaled back to the frame.
 *
 * Pure and synchronous: every buffer is sized at construction, so `detect` allocates only the
 * boxes it returns.
 */
import type { Box, Frame, Point, Polygon } from '../types.ts'

/** What `detect` found in one frame. */
export interface MotionResult {
  /** Regions that changed, in the frame's pixels; overlapping regions are merged. */
  boxes: Box[]
  /** Share of the analysed (unmasked) picture that changed, 0..1, before dilation. */
  changedFraction: number
  /** True while the background is being (re)learnt: boxes are then always empty. */
  calibrating: boolean
}

export interface MotionTunables {
  /**
   * Height of the picture motion is computed on (the width keeps the aspect ratio). Frigate's
   * `frame_height`: ~100 px is plenty to see a person and cheap; its other defaults are tuned
   * at this scale, so they carry over.
   */
  motionHeight: number
  /**
   * Luma difference (0..255) from the background that counts as a change. Frigate's `threshold`:
   * above sensor noise and compression flicker, below a person against most backgrounds.
   */
  threshold: number
  /**
   * Fewest changed motion-scale pixels a region needs to be reported (Frigate's `contour_area`).
   * Counted on the changed pixels, not the dilated outline, so dilation does not change it.
   * At 100 px high a 640x360 frame has ~13 source pixels per motion pixel: ~130 px², a small
   * person far away, while rain drops and insects stay under it.
   */
  minArea: number
  /**
   * Weight of each new frame in the running-average background (Frigate's `frame_alpha`): slow
   * light changes (clouds, dusk) are absorbed within ~100 frames, while a passing object adds
   * too little to the background to leave a ghost.
   */
  frameAlpha: number
  /**
   * Changed fraction above which the change is the lighting, not an object: lights switched,
   * IR cut filter, camera moved. Frigate's `lightning_threshold`: the background is relearnt.
   */
  lightningThreshold: number
  /**
   * 3x3 dilations before the regions are split. Two join the fragments of one object (a torso
   * the same shade as the wall between moving head and legs) that are up to 4 motion pixels
   * apart, where Frigate's single dilation leaves several boxes for its region merging.
   */
  dilateIterations: number
}

export interface MotionOptions extends Partial<MotionTunables> {
  /** Size of the analytics frames fed to `detect`. */
  width: number
  height: number
  /** Relative polygons never analysed (clock overlays, trees in the wind). */
  masks?: Polygon[]
}

export const MOTION_DEFAULTS: Readonly<MotionTunables> = Object.freeze({
  motionHeight: 100,
  threshold: 30,
  minArea: 10,
  frameAlpha: 0.01,
  lightningThreshold: 0.8,
  dilateIterations: 2,
})

/**
 * After a recalibration the picture may keep settling for a few frames (auto exposure, the IR
 * filter moving): stay calibrating, relearning the background from each frame, until a frame
 * changes less than this from the one before. Frigate waits for the same 5 %.
 */
const SETTLED_FRACTION = 0.05

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Inclusive bounds of a region in motion-scale pixels. */
interface CellBounds {
  minX: number
  minY: number
  maxX: number
  maxY: number
}

export class MotionDetector {
  readonly width: number
  readonly height: number
  /** Size of the motion-scale picture. */
  readonly motionWidth: number
  readonly motionHeight: number
  private readonly tunables: MotionTunables
  /** Source column (row) where motion-scale column (row) i starts; the last entry is the width (height). */
  private readonly colStart: Int32Array
  private readonly rowStart: Int32Array
  /** 1 where a motion-scale pixel is analysed, 0 where a mask covers it. */
  private readonly analysed: Uint8Array
  private readonly analysedCount: number
  /** Per source column, the sum of the rows of the motion-scale row being built. */
  private readonly columnSums: Uint32Array
  /** 32-bit words per luma row when rows can be read a word (four pixels) at a time, else 0. */
  private readonly wordsPerRow: number
  private readonly current: Float32Array
  private readonly background: Float32Array
  private readonly changed: Uint8Array
  private readonly dilatedRows: Uint8Array
  private readonly dilated: Uint8Array
  private readonly stack: Int32Array
  /** First and last motion-scale row with a changed pixel in the latest comparison. */
  private firstChangedRow = 0
  private lastChangedRow = 0
  private hasBackground = false
  private calibrating = true

  constructor(options: MotionOptions) {
    const { width, height, masks = [], ...overrides } = options
    const tunables: MotionTunables = { ...MOTION_DEFAULTS }
    for (const [key, value] of Object.entries(overrides) as [keyof MotionTunables, number | undefined][]) {
      if (value !== undefined) tunables[key] = value
    }
    checkOptions(width, height, tunables)
    this.width = width
    this.height = height
    this.tunables = tunables
    // Never upscale: a frame already smaller than the motion height is used as it is.
    this.motionHeight = Math.min(height, tunables.motionHeight)
    this.motionWidth = Math.max(1, Math.round((width * this.motionHeight) / height))
    this.colStart = cellStarts(width, this.motionWidth)
    this.rowStart = cellStarts(height, this.motionHeight)

    const cells = this.motionWidth * this.motionHeight
    this.analysed = this.rasteriseMasks(masks)
    this.analysedCount = this.analysed.reduce((n, v) => n + v, 0)
    this.columnSums = new Uint32Array(width)
    // A 16-bit lane holds the sum of 257 rows of 255. Node runs little-endian wherever it runs,
    // but the lanes depend on the byte order, so it is checked rather than assumed.
    const tallestCell = Math.ceil(height / this.motionHeight)
    this.wordsPerRow = width % 4 === 0 && tallestCell <= 257 && LITTLE_ENDIAN ? width / 4 : 0
    this.current = new Float32Array(cells)
    this.background = new Float32Array(cells)
    this.changed = new Uint8Array(cells)
    this.dilatedRows = new Uint8Array(cells)
    this.dilated = new Uint8Array(cells)
    this.stack = new Int32Array(cells)
  }

  detect(frame: Frame): MotionResult {
    this.checkFrame(frame)
    this.shrinkLuma(frame.data)
    if (!this.hasBackground) {
      this.background.set(this.current)
      this.hasBackground = true
      this.calibrating = true
      return { boxes: [], changedFraction: 0, calibrating: true }
    }

    const changedCount = this.compareWithBackground()
    // Relative to the unmasked area: with most of the picture masked, lights switching on must
    // still read as lights, not as one huge object.
    const changedFraction = this.analysedCount === 0 ? 0 : changedCount / this.analysedCount
    if (
      changedFraction > this.tunables.lightningThreshold ||
      (this.calibrating && changedFraction >= SETTLED_FRACTION)
    ) {
      this.background.set(this.current)
      this.calibrating = true
      return { boxes: [], changedFraction, calibrating: true }
    }
    this.calibrating = false
    if (changedCount === 0) return { boxes: [], changedFraction, calibrating: false }

    // Motion is usually a band of the picture: dilate and search only the rows it can reach.
    const r = this.tunables.dilateIterations
    const fromRow = Math.max(0, this.firstChangedRow - r)
    const toRow = Math.min(this.motionHeight, this.lastChangedRow + r + 1)
    this.dilate(fromRow, toRow)
    const boxes = mergeOverlapping(this.regions(fromRow, toRow)).map((cells) => this.toFramePixels(cells))
    return { boxes, changedFraction, calibrating: false }
  }

  private checkFrame(frame: Frame): void {
    if (frame.width !== this.width || frame.height !== this.height) {
      throw new RangeError(
        `frame is ${frame.width}x${frame.height}; this motion detector was built for ${this.width}x${this.height}`,
      )
    }
    const needed = frame.width * frame.height + 2 * Math.ceil(frame.width / 2) * Math.ceil(frame.height / 2)
    if (frame.data.length < needed) {
      throw new RangeError(
        `frame buffer holds ${frame.data.length} bytes; a ${frame.width}x${frame.height} yuv420p frame needs ${needed}`,
      )
    }
  }

  /**
   * Area-average the luma plane into `current`, masked pixels set to 0 (as in the background, so
   * they never differ). Averaging ~13 source pixels per motion pixel also does the noise
   * filtering Frigate gets from its blur after a nearest-neighbour resize, so there is no blur.
   * Each band of rows is first summed per source column: that pass reads every luma byte and is
   * most of the cost of `detect`, hence the word-at-a-time variant.
   */
  private shrinkLuma(luma: Uint8Array): void {
    const { width, height, motionWidth, motionHeight, colStart, rowStart, columnSums, current, analysed } =
      this
    const words =
      this.wordsPerRow > 0 && luma.byteOffset % 4 === 0
        ? new Uint32Array(luma.buffer, luma.byteOffset, (width * height) / 4)
        : undefined
    for (let cy = 0; cy < motionHeight; cy++) {
      const firstRow = rowStart[cy]!
      const rowEnd = rowStart[cy + 1]!
      if (words) this.sumRowsByWords(words, firstRow, rowEnd)
      else this.sumRowsByBytes(luma, firstRow, rowEnd)
      const rows = rowEnd - firstRow
      const cellBase = cy * motionWidth
      for (let cx = 0; cx < motionWidth; cx++) {
        const colEnd = colStart[cx + 1]!
        let sum = 0
        for (let sx = colStart[cx]!; sx < colEnd; sx++) sum += columnSums[sx]!
        const i = cellBase + cx
        current[i] = analysed[i] ? sum / (rows * (colEnd - colStart[cx]!)) : 0
      }
    }
  }

  private sumRowsByBytes(luma: Uint8Array, firstRow: number, rowEnd: number): void {
    const { width, columnSums } = this
    columnSums.fill(0)
    for (let sy = firstRow; sy < rowEnd; sy++) {
      const rowBase = sy * width
      for (let sx = 0; sx < width; sx++) columnSums[sx]! += luma[rowBase + sx]!
    }
  }

  /**
   * As `sumRowsByBytes`, four columns at a time: bytes 0 and 2 of a word summed in the 16-bit
   * lanes of `even`, bytes 1 and 3 in `odd`. Down the column of words, so the sums stay in
   * registers (the rows of a cell are a few KB apart, well within cache).
   */
  private sumRowsByWords(words: Uint32Array, firstRow: number, rowEnd: number): void {
    const { wordsPerRow, columnSums } = this
    const end = rowEnd * wordsPerRow
    for (let k = 0, sx = 0; k < wordsPerRow; k++, sx += 4) {
      let even = 0
      let odd = 0
      for (let i = firstRow * wordsPerRow + k; i < end; i += wordsPerRow) {
        const word = words[i]!
        even += word & 0x00ff00ff
        odd += (word >>> 8) & 0x00ff00ff
      }
      columnSums[sx] = even & 0xffff
      columnSums[sx + 1] = odd & 0xffff
      columnSums[sx + 2] = even >>> 16
      columnSums[sx + 3] = odd >>> 16
    }
  }

  /**
   * Mark the pixels that differ from the background by more than the threshold, then blend the
   * frame into the background. Pixels in motion blend at the same rate as the rest (Frigate
   * pauses the blend for ten frames of motion): at 1 % a passing object barely marks the
   * background, and an object that stops is absorbed, and its ghost cleared once it leaves, in
   * the same ~100 frames; the tracker, not the motion gate, follows stationary objects.
   */
  private compareWithBackground(): number {
    const { current, background, changed } = this
    const { threshold, frameAlpha } = this.tunables
    let count = 0
    let firstChanged = -1
    let lastChanged = -1
    for (let i = 0; i < current.length; i++) {
      const value = current[i]!
      const base = background[i]!
      background[i] = base + frameAlpha * (value - base)
      if (Math.abs(value - base) > threshold) {
        changed[i] = 1
        count++
        if (firstChanged < 0) firstChanged = i
        lastChanged = i
      } else {
        changed[i] = 0
      }
    }
    this.firstChangedRow = Math.floor(firstChanged / this.motionWidth)
    this.lastChangedRow = Math.floor(lastChanged / this.motionWidth)
    return count
  }

  /**
   * Square dilation of `changed` into `dilated` over rows [fromRow, toRow), done as a row pass
   * then a column pass: the same as `dilateIterations` 3x3 dilations, at a cost independent of
   * their number. Rows outside the band have nothing to dilate, so the band's edges are exact.
   */
  private dilate(fromRow: number, toRow: number): void {
    const { motionWidth: w, changed, dilatedRows, dilated } = this
    const r = this.tunables.dilateIterations
    for (let y = fromRow; y < toRow; y++) dilateLine(changed, dilatedRows, y * w, 1, w, r)
    for (let x = 0; x < w; x++) dilateLine(dilatedRows, dilated, fromRow * w + x, w, toRow - fromRow, r)
  }

  /**
   * The 8-connected regions of `dilated` with at least `minArea` changed pixels, as the bounds of
   * their changed pixels: the dilation joins fragments, but a box grows by one cell, not by it.
   * Consumes `dilated`: a pixel is cleared when first reached, which marks it visited, and
   * leaves it all zero for the next frame's band.
   */
  private regions(fromRow: number, toRow: number): CellBounds[] {
    const { motionWidth: w, motionHeight: h, changed, dilated, stack } = this
    const minArea = this.tunables.minArea
    const found: CellBounds[] = []
    for (let seed = fromRow * w; seed < toRow * w; seed++) {
      if (!dilated[seed]) continue
      dilated[seed] = 0
      stack[0] = seed
      let top = 1
      let area = 0
      let minX = w
      let minY = h
      let maxX = -1
      let maxY = -1
      while (top > 0) {
        const i = stack[--top]!
        const x = i % w
        const y = (i - x) / w
        if (changed[i]) {
          area++
          if (x < minX) minX = x
          if (x > maxX) maxX = x
          if (y < minY) minY = y
          if (y > maxY) maxY = y
        }
        const x0 = x > 0 ? x - 1 : x
        const x1 = x < w - 1 ? x + 1 : x
        const y0 = y > 0 ? y - 1 : y
        const y1 = y < h - 1 ? y + 1 : y
        for (let ny = y0; ny <= y1; ny++) {
          for (let nx = x0; nx <= x1; nx++) {
            const n = ny * w + nx
            if (dilated[n]) {
              dilated[n] = 0
              stack[top++] = n
            }
          }
        }
      }
      if (area >= minArea) found.push({ minX, minY, maxX, maxY })
    }
    return found
  }

  /**
   * The source pixels the cells cover, one cell wider each side (within the frame): an object's
   * edge can fill too little of a cell to cross the threshold there. Frigate's boxes, taken on
   * the dilated outline, have the same margin.
   */
  private toFramePixels(cells: CellBounds): Box {
    return {
      x1: this.colStart[Math.max(0, cells.minX - 1)]!,
      y1: this.rowStart[Math.max(0, cells.minY - 1)]!,
      x2: this.colStart[Math.min(this.motionWidth, cells.maxX + 2)]!,
      y2: this.rowStart[Math.min(this.motionHeight, cells.maxY + 2)]!,
    }
  }

  /** 1 for each motion-scale pixel whose centre no mask polygon covers. */
  private rasteriseMasks(masks: Polygon[]): Uint8Array {
    const { width, height, motionWidth, motionHeight, colStart, rowStart } = this
    const analysed = new Uint8Array(motionWidth * motionHeight).fill(1)
    for (const polygon of masks) {
      if (polygon.length < 3) {
        throw new RangeError(`a motion mask polygon needs at least 3 points, got ${polygon.length}`)
      }
      for (let cy = 0; cy < motionHeight; cy++) {
        const y = (rowStart[cy]! + rowStart[cy + 1]!) / 2 / height
        for (let cx = 0; cx < motionWidth; cx++) {
          const x = (colStart[cx]! + colStart[cx + 1]!) / 2 / width
          if (insidePolygon(x, y, polygon)) analysed[cy * motionWidth + cx] = 0
        }
      }
    }
    return analysed
  }
}

function checkOptions(width: number, height: number, t: MotionTunables): void {
  const problems: string[] = []
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    problems.push(`frame size ${width}x${height} is not a positive whole size`)
  }
  if (!Number.isInteger(t.motionHeight) || t.motionHeight < 1) {
    problems.push('motionHeight must be a whole number ≥ 1')
  }
  if (!(t.threshold >= 0 && t.threshold < 255)) problems.push('threshold must be in 0..254')
  if (!(t.minArea >= 1)) problems.push('minArea must be ≥ 1')
  if (!(t.frameAlpha > 0 && t.frameAlpha <= 1)) problems.push('frameAlpha must be in (0, 1]')
  if (!(t.lightningThreshold > 0 && t.lightningThreshold <= 1)) {
    problems.push('lightningThreshold must be in (0, 1]')
  }
  if (!Number.isInteger(t.dilateIterations) || t.dilateIterations < 0) {
    problems.push('dilateIterations must be a whole number ≥ 0')
  }
  if (problems.length > 0) throw new RangeError(`motion detector options: ${problems.join('; ')}`)
}

/**
 * Where each of `cells` equal-as-possible spans of `size` starts, plus `size` at the end. With
 * `cells <= size` every span holds at least one source pixel, so boxes never come out empty.
 */
function cellStarts(size: number, cells: number): Int32Array {
  const starts = new Int32Array(cells + 1)
  for (let i = 0; i <= cells; i++) starts[i] = Math.floor((i * size) / cells)
  return starts
}

/**
 * One line of a separable dilation: `to[k]` is 1 when `from` has a 1 within `radius` along the
 * line. A running count of the window keeps it linear in the line's length.
 */
function dilateLine(
  from: Uint8Array,
  to: Uint8Array,
  start: number,
  step: number,
  length: number,
  radius: number,
): void {
  let inWindow = 0
  for (let k = 0; k < radius && k < length; k++) inWindow += from[start + k * step]!
  for (let k = 0; k < length; k++) {
    if (k + radius < length) inWindow += from[start + (k + radius) * step]!
    if (k - radius - 1 >= 0) inWindow -= from[start + (k - radius - 1) * step]!
    to[start + k * step] = inWindow > 0 ? 1 : 0
  }
}

/** Even-odd rule, so self-intersecting polygons behave as they are drawn. */
function insidePolygon(x: number, y: number, polygon: Polygon): boolean {
  let inside = false
  let previous: Point = polygon[polygon.length - 1]!
  for (const point of polygon) {
    const [px, py] = point
    const [qx, qy] = previous
    if (py > y !== qy > y && x < ((qx - px) * (y - py)) / (qy - py) + px) inside = !inside
    previous = point
  }
  return inside
}

/** Union overlapping regions until none overlap (a union can reach a region it missed before). */
function mergeOverlapping(regions: CellBounds[]): CellBounds[] {
  let merged = true
  while (merged) {
    merged = false
    for (let i = 0; i < regions.length; i++) {
      const a = regions[i]!
      for (let j = regions.length - 1; j > i; j--) {
        const b = regions[j]!
        if (a.minX <= b.maxX && b.minX <= a.maxX && a.minY <= b.maxY && b.minY <= a.maxY) {
          a.minX = Math.min(a.minX, b.minX)
          a.minY = Math.min(a.minY, b.minY)
          a.maxX = Math.max(a.maxX, b.maxX)
          a.maxY = Math.max(a.maxY, b.maxY)
          regions.splice(j, 1)
          merged = true
        }
      }
    }
  }
  return regions
}

/** One span of the motion timeline. */
export interface MotionBucket {
  /** Start of the bucket, ms since the epoch, a multiple of the bucket length. */
  start: number
  /** Seconds of motion inside the bucket. */
  seconds: number
}

export interface MotionTimeOptions {
  /** Length of a bucket in ms; buckets are aligned to the epoch, so cameras line up. */
  bucketMs?: number
  /**
   * Longest frame gap counted as motion: a stalled stream after a moving frame must not read as
   * minutes of motion. 2 s is several frames at any analytics rate.
   */
  maxGapMs?: number
}

/**
 * Seconds of motion per time bucket, for the playback timeline. Each frame's state holds until
 * the next frame: the time from a moving frame to the next one (capped) is motion.
 */
export class MotionTime {
  private readonly bucketMs: number
  private readonly maxGapMs: number
  private readonly msByBucket = new Map<number, number>()
  private lastTime = Number.NaN
  private lastMoving = false

  constructor({ bucketMs = 10_000, maxGapMs = 2_000 }: MotionTimeOptions = {}) {
    if (!(bucketMs > 0) || !(maxGapMs >= 0)) {
      throw new RangeError(`motion time needs bucketMs > 0 and maxGapMs ≥ 0, got ${bucketMs} and ${maxGapMs}`)
    }
    this.bucketMs = bucketMs
    this.maxGapMs = maxGapMs
  }

  /** Record a frame. A time that does not move forward (clock step back) counts nothing. */
  add(frameTime: number, moving: boolean): void {
    if (this.lastMoving && frameTime > this.lastTime) {
      this.addMotion(this.lastTime, Math.min(frameTime, this.lastTime + this.maxGapMs))
    }
    this.lastTime = frameTime
    this.lastMoving = moving
  }

  /** Every bucket with motion so far, oldest first. */
  buckets(): MotionBucket[] {
    return [...this.msByBucket]
      .sort(([a], [b]) => a - b)
      .map(([start, ms]) => ({ start, seconds: ms / 1000 }))
  }

  /**
   * Remove and return the buckets that end at or before `time`, oldest first, for storing. Pass
   * the latest frame's time: motion still to be added then lands only in later buckets.
   */
  takeBefore(time: number): MotionBucket[] {
    const taken = this.buckets().filter((b) => b.start + this.bucketMs <= time)
    for (const b of taken) this.msByBucket.delete(b.start)
    return taken
  }

  private addMotion(from: number, to: number): void {
    let at = from
    while (at < to) {
      const start = Math.floor(at / this.bucketMs) * this.bucketMs
      const end = Math.min(to, start + this.bucketMs)
      this.msByBucket.set(start, (this.msByBucket.get(start) ?? 0) + (end - at))
      at = end
    }
  }
}
