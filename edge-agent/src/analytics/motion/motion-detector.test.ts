import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../test/helpers/seeded-random.ts'
import type { Box, Frame } from '../types.ts'
import { MotionDetector, MotionTime } from './motion-detector.ts'

interface Square {
  x: number
  y: number
  size: number
  luma: number
}

/** A luma plane painted by `paint(x, y)`. */
function scene(width: number, height: number, paint: (x: number, y: number) => number): Uint8Array {
  const luma = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) luma[y * width + x] = clampByte(paint(x, y))
  }
  return luma
}

/** A yuv420p frame: the scene's luma with the squares painted over it, grey chroma. */
function makeFrame(width: number, height: number, luma: Uint8Array, squares: Square[] = []): Frame {
  const data = Buffer.alloc(width * height + 2 * (width / 2) * (height / 2), 128)
  data.set(luma)
  for (const s of squares) {
    for (let y = Math.max(0, s.y); y < Math.min(height, s.y + s.size); y++) {
      data.fill(s.luma, y * width + Math.max(0, s.x), y * width + Math.min(width, s.x + s.size))
    }
  }
  return { width, height, data, time: 0 }
}

const clampByte = (v: number) => Math.max(0, Math.min(255, Math.round(v)))
const plain = (luma: number, width = 640, height = 360) => new Uint8Array(width * height).fill(luma)
/** A scene with structure, so brightness changes are not uniform. */
const texture = (x: number, y: number) => 60 + ((x * 7 + y * 3) % 90) + (((x >> 4) + (y >> 4)) % 2) * 30
const textured = scene(640, 360, texture)

function contains(box: Box, s: Square): boolean {
  return box.x1 <= s.x && box.y1 <= s.y && box.x2 >= s.x + s.size && box.y2 >= s.y + s.size
}

/** The box exceeds the square by at most `margin` px (two motion-scale cells at 640x360) each side. */
function hugs(box: Box, s: Square, margin = 8): boolean {
  return (
    box.x1 >= s.x - margin &&
    box.y1 >= s.y - margin &&
    box.x2 <= s.x + s.size + margin &&
    box.y2 <= s.y + s.size + margin
  )
}

describe('MotionDetector', () => {
  it('calibrates on the first frame and reports nothing for a static scene with noise below the threshold', () => {
    const detector = new MotionDetector({ width: 640, height: 360 })
    const random = seededRandom(7)
    const noisy = () => {
      const luma = new Uint8Array(textured.length)
      for (let i = 0; i < luma.length; i++) luma[i] = clampByte(textured[i]! + (random() - 0.5) * 40)
      return luma
    }
    expect(detector.detect(makeFrame(640, 360, noisy()))).toEqual({
      boxes: [],
      changedFraction: 0,
      calibrating: true,
    })
    for (let i = 0; i < 100; i++) {
      const result = detector.detect(makeFrame(640, 360, noisy()))
      expect(result).toEqual({ boxes: [], changedFraction: 0, calibrating: false })
    }
  })

  it('boxes a bright square moving across a plain background in every frame', () => {
    const detector = new MotionDetector({ width: 640, height: 360 })
    detector.detect(makeFrame(640, 360, plain(40)))
    for (let x = 10; x <= 590; x += 8) {
      const square: Square = { x, y: 150, size: 40, luma: 200 }
      const result = detector.detect(makeFrame(640, 360, plain(40), [square]))
      expect(result.calibrating).toBe(false)
      expect(result.boxes).toHaveLength(1)
      const box = result.boxes[0]!
      expect(contains(box, square), JSON.stringify({ box, square })).toBe(true)
      expect(hugs(box, square), JSON.stringify({ box, square })).toBe(true)
    }
  })

  it('never sees motion under a mask, and still sees it elsewhere', () => {
    // A band over the whole path of the first square: y 150..190 of 360.
    const band: [number, number][] = [
      [0, 120 / 360],
      [1, 120 / 360],
      [1, 220 / 360],
      [0, 220 / 360],
    ]
    const detector = new MotionDetector({ width: 640, height: 360, masks: [band] })
    detector.detect(makeFrame(640, 360, plain(40)))
    for (let x = 10; x <= 590; x += 8) {
      const hidden: Square = { x, y: 150, size: 40, luma: 220 }
      expect(detector.detect(makeFrame(640, 360, plain(40), [hidden]))).toEqual({
        boxes: [],
        changedFraction: 0,
        calibrating: false,
      })
    }
    for (let x = 10; x <= 300; x += 8) {
      const hidden: Square = { x, y: 150, size: 40, luma: 220 }
      const visible: Square = { x: 600 - x, y: 280, size: 40, luma: 220 }
      const { boxes } = detector.detect(makeFrame(640, 360, plain(40), [hidden, visible]))
      expect(boxes).toHaveLength(1)
      expect(contains(boxes[0]!, visible)).toBe(true)
    }
  })

  it('masks with any polygon shape, not just rectangles', () => {
    // A triangle over the top-left corner: a square there is hidden, one at the bottom-right is not.
    const detector = new MotionDetector({
      width: 640,
      height: 360,
      masks: [
        [
          [0, 0],
          [0.6, 0],
          [0, 0.6],
        ],
      ],
    })
    detector.detect(makeFrame(640, 360, plain(40)))
    const hidden: Square = { x: 30, y: 30, size: 40, luma: 220 }
    const visible: Square = { x: 560, y: 300, size: 40, luma: 220 }
    expect(detector.detect(makeFrame(640, 360, plain(40), [hidden])).boxes).toEqual([])
    const { boxes } = detector.detect(makeFrame(640, 360, plain(40), [visible]))
    expect(boxes).toHaveLength(1)
    expect(contains(boxes[0]!, visible)).toBe(true)
  })

  it('recalibrates when the whole picture changes (lights), and is quiet again after', () => {
    const detector = new MotionDetector({ width: 640, height: 360 })
    for (let i = 0; i < 5; i++) detector.detect(makeFrame(640, 360, textured))
    const lit = scene(640, 360, (x, y) => texture(x, y) + 80)

    const switched = detector.detect(makeFrame(640, 360, lit))
    expect(switched.calibrating).toBe(true)
    expect(switched.boxes).toEqual([])
    expect(switched.changedFraction).toBeGreaterThan(0.8)

    for (let i = 0; i < 20; i++) {
      expect(detector.detect(makeFrame(640, 360, lit))).toEqual({
        boxes: [],
        changedFraction: 0,
        calibrating: false,
      })
    }
  })

  it('judges a lighting change on the unmasked area only', () => {
    // Nine tenths masked: the lights still change all of what is analysed.
    const mostly: [number, number][] = [
      [0, 0],
      [1, 0],
      [1, 0.9],
      [0, 0.9],
    ]
    const detector = new MotionDetector({ width: 640, height: 360, masks: [mostly] })
    detector.detect(makeFrame(640, 360, textured))
    const lit = scene(640, 360, (x, y) => texture(x, y) + 80)
    expect(detector.detect(makeFrame(640, 360, lit))).toMatchObject({ boxes: [], calibrating: true })
  })

  it('stays calibrating while the picture keeps settling after a recalibration', () => {
    const detector = new MotionDetector({ width: 640, height: 360 })
    detector.detect(makeFrame(640, 360, plain(40)))
    detector.detect(makeFrame(640, 360, plain(40)))
    expect(detector.detect(makeFrame(640, 360, plain(160))).calibrating).toBe(true)
    // Exposure still adjusting on the left half: too much change to trust, not enough for lights.
    const settling = scene(640, 360, (x) => (x < 320 ? 200 : 160))
    const second = detector.detect(makeFrame(640, 360, settling))
    expect(second).toMatchObject({ boxes: [], calibrating: true })
    expect(second.changedFraction).toBeCloseTo(0.5, 1)
    expect(detector.detect(makeFrame(640, 360, settling))).toEqual({
      boxes: [],
      changedFraction: 0,
      calibrating: false,
    })
  })

  it('ignores a change smaller than the minimum area', () => {
    const detector = new MotionDetector({ width: 640, height: 360 })
    detector.detect(makeFrame(640, 360, plain(40)))
    const speck: Square = { x: 300, y: 200, size: 6, luma: 255 }
    const result = detector.detect(makeFrame(640, 360, plain(40), [speck]))
    expect(result.changedFraction).toBeGreaterThan(0)
    expect(result.boxes).toEqual([])
    const small: Square = { x: 300, y: 200, size: 16, luma: 255 }
    expect(detector.detect(makeFrame(640, 360, plain(40), [small])).boxes).toHaveLength(1)
  })

  it('gives two boxes for two separated moving squares', () => {
    const detector = new MotionDetector({ width: 640, height: 360 })
    detector.detect(makeFrame(640, 360, plain(90)))
    for (let step = 0; step < 20; step++) {
      // One brighter and one darker than the background: both are changes.
      const a: Square = { x: 20 + step * 6, y: 40, size: 32, luma: 200 }
      const b: Square = { x: 560 - step * 6, y: 260, size: 48, luma: 10 + step }
      const { boxes } = detector.detect(makeFrame(640, 360, plain(90), [a, b]))
      expect(boxes).toHaveLength(2)
      expect(boxes.some((box) => contains(box, a) && hugs(box, a))).toBe(true)
      expect(boxes.some((box) => contains(box, b) && hugs(box, b))).toBe(true)
    }
  })

  it('works on frame sizes that are not a multiple of the motion scale, and clamps boxes to the frame', () => {
    const detector = new MotionDetector({ width: 642, height: 362 })
    expect(detector.motionHeight).toBe(100)
    expect(detector.motionWidth).toBe(177)
    detector.detect(makeFrame(642, 362, plain(40, 642, 362)))
    for (let x = 3; x <= 603; x += 15) {
      const square: Square = { x, y: 161, size: 37, luma: 230 }
      const { boxes } = detector.detect(makeFrame(642, 362, plain(40, 642, 362), [square]))
      expect(boxes).toHaveLength(1)
      expect(contains(boxes[0]!, square) && hugs(boxes[0]!, square)).toBe(true)
    }
    const corner: Square = { x: 612, y: 332, size: 30, luma: 230 }
    const { boxes } = detector.detect(makeFrame(642, 362, plain(40, 642, 362), [corner]))
    expect(boxes).toHaveLength(1)
    expect(boxes[0]!.x2).toBe(642)
    expect(boxes[0]!.y2).toBe(362)
  })

  it('finds the same motion whether or not the frame buffer is word-aligned', () => {
    // Frames sliced out of a larger buffer can start at any byte; only aligned ones take the fast path.
    const aligned = new MotionDetector({ width: 640, height: 360 })
    const unaligned = new MotionDetector({ width: 640, height: 360 })
    const shifted = (frame: Frame): Frame => {
      const data = Buffer.alloc(frame.data.length + 1).subarray(1)
      data.set(frame.data)
      return { ...frame, data }
    }
    for (let step = 0; step < 30; step++) {
      const square: Square = { x: 30 + step * 17, y: 90 + step * 5, size: 44, luma: 250 }
      const frame = makeFrame(640, 360, textured, step === 0 ? [] : [square])
      const expected = aligned.detect(frame)
      expect(expected.boxes).toHaveLength(step === 0 ? 0 : 1)
      expect(unaligned.detect(shifted(frame))).toEqual(expected)
    }
  })

  it('uses a frame smaller than the motion height as it is', () => {
    const detector = new MotionDetector({ width: 96, height: 54 })
    expect([detector.motionWidth, detector.motionHeight]).toEqual([96, 54])
    detector.detect(makeFrame(96, 54, plain(40, 96, 54)))
    const square: Square = { x: 40, y: 20, size: 6, luma: 200 }
    expect(detector.detect(makeFrame(96, 54, plain(40, 96, 54), [square])).boxes).toEqual([
      // One pixel of margin: a motion-scale cell is one frame pixel here.
      { x1: 39, y1: 19, x2: 47, y2: 27 },
    ])
  })

  it('rejects a frame whose buffer is too small or whose size is not the configured one', () => {
    const detector = new MotionDetector({ width: 640, height: 360 })
    const short: Frame = { width: 640, height: 360, data: Buffer.alloc(640 * 360), time: 0 }
    expect(() => detector.detect(short)).toThrow(
      'frame buffer holds 230400 bytes; a 640x360 yuv420p frame needs 345600',
    )
    expect(() => detector.detect(makeFrame(320, 180, plain(0, 320, 180)))).toThrow(/built for 640x360/)
  })

  it('rejects nonsense options', () => {
    expect(() => new MotionDetector({ width: 0, height: 360 })).toThrow(/frame size/)
    expect(() => new MotionDetector({ width: 640, height: 360, frameAlpha: 0 })).toThrow(/frameAlpha/)
    expect(
      () =>
        new MotionDetector({
          width: 640,
          height: 360,
          masks: [
            [
              [0, 0],
              [1, 1],
            ],
          ],
        }),
    ).toThrow(/at least 3 points/)
  })
})

describe('MotionTime', () => {
  it('counts the time from each moving frame to the next', () => {
    const time = new MotionTime()
    for (let t = 0; t <= 3000; t += 200) time.add(t, t >= 1000 && t < 2000)
    expect(time.buckets()).toEqual([{ start: 0, seconds: 1 }])
  })

  it('caps a gap after a moving frame', () => {
    const time = new MotionTime({ maxGapMs: 2000 })
    time.add(1000, true)
    time.add(61_000, false) // the stream stalled for a minute
    time.add(61_200, true)
    time.add(61_300, false)
    expect(time.buckets()).toEqual([
      { start: 0, seconds: 2 },
      { start: 60_000, seconds: 0.1 },
    ])
  })

  it('splits motion across bucket boundaries', () => {
    const time = new MotionTime({ bucketMs: 10_000 })
    for (let t = 9000; t < 21_000; t += 500) time.add(t, true)
    time.add(21_000, false)
    expect(time.buckets()).toEqual([
      { start: 0, seconds: 1 },
      { start: 10_000, seconds: 10 },
      { start: 20_000, seconds: 1 },
    ])
  })

  it('counts nothing when the clock steps back', () => {
    const time = new MotionTime()
    time.add(5000, true)
    time.add(4000, true)
    time.add(4500, false)
    expect(time.buckets()).toEqual([{ start: 0, seconds: 0.5 }])
  })

  it('hands out finished buckets once', () => {
    const time = new MotionTime({ bucketMs: 10_000 })
    for (let t = 0; t <= 25_000; t += 1000) time.add(t, true)
    expect(time.takeBefore(25_000)).toEqual([
      { start: 0, seconds: 10 },
      { start: 10_000, seconds: 10 },
    ])
    expect(time.takeBefore(25_000)).toEqual([])
    expect(time.buckets()).toEqual([{ start: 20_000, seconds: 5 }])
  })
})
