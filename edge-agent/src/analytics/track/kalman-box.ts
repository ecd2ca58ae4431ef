/**
 * A constant-velocity Kalman filter on one box, as SORT and ByteTrack use it. The state is
 * (cx, cy, a, h) — centre, aspect ratio w/h, height — plus their velocities per frame. Noise is
 * proportional to the box's height (ByteTrack's weights): a 400 px truck and a 40 px person both
 * jitter by a few percent of their size, so a fixed pixel noise would be wrong for one of them.
 */
import type { Box } from '../types.ts'

/** ByteTrack's std of a position, as a fraction of the box height. */
const POSITION_WEIGHT = 1 / 20
/** ByteTrack's std of a velocity per frame, as a fraction of the box height. */
const VELOCITY_WEIGHT = 1 / 160
/** The aspect ratio is unitless, so its noise is absolute (ByteTrack's values). */
const ASPECT_PROCESS_STD = 1e-2
const ASPECT_VELOCITY_STD = 1e-5
const ASPECT_MEASUREMENT_STD = 1e-1
/** Keeps a box drawable when a long prediction shrinks it past zero. */
const MIN_HEIGHT = 1
const MIN_ASPECT = 1e-3

const STATE = 8
const MEASURED = 4

/** Row-major dense matrix. At most 8x8 here, so plain loops beat pulling in a library. */
interface Matrix {
  rows: number
  cols: number
  data: Float64Array
}

function matrix(rows: number, cols: number, values?: readonly number[]): Matrix {
  const data = new Float64Array(rows * cols)
  if (values) data.set(values)
  return { rows, cols, data }
}

function diagonal(values: readonly number[]): Matrix {
  const m = matrix(values.length, values.length)
  values.forEach((v, i) => {
    m.data[i * values.length + i] = v
  })
  return m
}

function identity(n: number): Matrix {
  return diagonal(new Array<number>(n).fill(1))
}

function at(m: Matrix, r: number, c: number): number {
  return m.data[r * m.cols + c]!
}

function multiply(a: Matrix, b: Matrix): Matrix {
  const out = matrix(a.rows, b.cols)
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < b.cols; c++) {
      let sum = 0
      for (let k = 0; k < a.cols; k++) sum += at(a, r, k) * at(b, k, c)
      out.data[r * b.cols + c] = sum
    }
  }
  return out
}

function transpose(a: Matrix): Matrix {
  const out = matrix(a.cols, a.rows)
  for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) out.data[c * a.rows + r] = at(a, r, c)
  return out
}

function combine(a: Matrix, b: Matrix, sign: 1 | -1): Matrix {
  const out = matrix(a.rows, a.cols)
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i]! + sign * b.data[i]!
  return out
}

/** Averages P with its transpose: rounding would otherwise make a covariance slowly asymmetric. */
function symmetrize(a: Matrix): Matrix {
  return matrix(
    a.rows,
    a.cols,
    Array.from(combine(a, transpose(a), 1).data, (v) => v / 2),
  )
}

/** Gauss-Jordan with partial pivoting; only ever sees the 4x4 innovation covariance. */
function invert(a: Matrix): Matrix {
  const n = a.rows
  const work = matrix(n, n, Array.from(a.data))
  const inverse = identity(n)
  const swapRows = (m: Matrix, i: number, j: number) => {
    for (let c = 0; c < n; c++) {
      const t = m.data[i * n + c]!
      m.data[i * n + c] = m.data[j * n + c]!
      m.data[j * n + c] = t
    }
  }
  for (let col = 0; col < n; col++) {
    let pivot = col
    for (let r = col + 1; r < n; r++)
      if (Math.abs(at(work, r, col)) > Math.abs(at(work, pivot, col))) pivot = r
    const p = at(work, pivot, col)
    if (p === 0) throw new RangeError('singular matrix')
    swapRows(work, col, pivot)
    swapRows(inverse, col, pivot)
    for (let c = 0; c < n; c++) {
      work.data[col * n + c] = at(work, col, c) / p
      inverse.data[col * n + c] = at(inverse, col, c) / p
    }
    for (let r = 0; r < n; r++) {
      const f = at(work, r, col)
      if (r === col || f === 0) continue
      for (let c = 0; c < n; c++) {
        work.data[r * n + c] = at(work, r, c) - f * at(work, col, c)
        inverse.data[r * n + c] = at(inverse, r, c) - f * at(inverse, col, c)
      }
    }
  }
  return inverse
}

/** The measurement the detector gives: centre, aspect ratio, height. */
function measure(box: Box): number[] {
  const w = box.x2 - box.x1
  const h = box.y2 - box.y1
  return [box.x1 + w / 2, box.y1 + h / 2, w / h, h]
}

/** H: the filter observes the first four state components directly. */
const OBSERVE = (() => {
  const m = matrix(MEASURED, STATE)
  for (let i = 0; i < MEASURED; i++) m.data[i * STATE + i] = 1
  return m
})()
const OBSERVE_T = transpose(OBSERVE)

export class KalmanBox {
  private mean: Matrix
  private covariance: Matrix

  /** Starts at the box with zero velocity, the velocity very uncertain (ByteTrack's initiate). */
  constructor(box: Box) {
    const z = measure(box)
    const h = z[3]!
    this.mean = matrix(STATE, 1, [...z, 0, 0, 0, 0])
    const p = 2 * POSITION_WEIGHT * h
    const v = 10 * VELOCITY_WEIGHT * h
    this.covariance = diagonal([p, p, 1e-2, p, v, v, 1e-5, v].map((s) => s * s))
  }

  /**
   * Moves the state `dtFrames` frames ahead. Fractional and multi-frame steps are fine: the
   * tracker passes elapsed time over the nominal frame interval, so a stalled stream still
   * extrapolates as far as the object really went. Process noise grows linearly with the step
   * (a random walk's variance), so a long gap widens the uncertainty as it should.
   */
  predict(dtFrames = 1): void {
    if (!(dtFrames > 0)) return
    const transition = identity(STATE)
    for (let i = 0; i < MEASURED; i++) transition.data[i * STATE + i + MEASURED] = dtFrames
    const h = this.height
    const p = POSITION_WEIGHT * h
    const v = VELOCITY_WEIGHT * h
    const noise = diagonal(
      [p, p, ASPECT_PROCESS_STD, p, v, v, ASPECT_VELOCITY_STD, v].map((s) => s * s * dtFrames),
    )
    this.mean = multiply(transition, this.mean)
    this.covariance = symmetrize(
      combine(multiply(multiply(transition, this.covariance), transpose(transition)), noise, 1),
    )
  }

  /** Corrects the state with a detected box. */
  update(box: Box): void {
    const z = matrix(MEASURED, 1, measure(box))
    const h = this.height
    const p = POSITION_WEIGHT * h
    const measurementNoise = diagonal([p, p, ASPECT_MEASUREMENT_STD, p].map((s) => s * s))
    const projected = combine(multiply(multiply(OBSERVE, this.covariance), OBSERVE_T), measurementNoise, 1)
    const gain = multiply(multiply(this.covariance, OBSERVE_T), invert(projected))
    const innovation = combine(z, multiply(OBSERVE, this.mean), -1)
    this.mean = combine(this.mean, multiply(gain, innovation), 1)
    this.covariance = symmetrize(
      combine(this.covariance, multiply(multiply(gain, projected), transpose(gain)), -1),
    )
  }

  /** The filtered (or predicted) box in frame pixels. */
  get box(): Box {
    const cx = at(this.mean, 0, 0)
    const cy = at(this.mean, 1, 0)
    const h = this.height
    const w = Math.max(at(this.mean, 2, 0), MIN_ASPECT) * h
    return { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 }
  }

  /** Centre velocity in pixels per frame. */
  get velocity(): { x: number; y: number } {
    return { x: at(this.mean, 4, 0), y: at(this.mean, 5, 0) }
  }

  private get height(): number {
    return Math.max(at(this.mean, 3, 0), MIN_HEIGHT)
  }
}
