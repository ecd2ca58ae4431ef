import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { rgbToFrame } from '../../../test/helpers/yuv-frames.ts'
import { OnnxDetector } from '../detect/onnx-detector.ts'
import type { Frame } from '../types.ts'
import {
  annotateSnapshot,
  encodeSnapshot,
  MIN_CROP_SIZE,
  NotJpegError,
  type RelativeBox,
  snapshotCropRegion,
  yuv420pToRgb,
} from './snapshot.ts'

/** The real model and photo live beside the repository (../shared), never in it. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const MODEL = path.resolve(repoRoot, '../shared/models/yolox_nano.onnx')
const PERSON = path.resolve(repoRoot, '../shared/media/person.png')
const haveShared = [MODEL, PERSON].every((f) => existsSync(f))
if (!haveShared) console.warn(`SKIPPING real-model snapshot test: ${MODEL} or ${PERSON} is absent`)

type Rgb = readonly [number, number, number]

const WIDTH = 640
const HEIGHT = 360
const GREY: Rgb = [128, 128, 128]
const SQUARE_COLOUR: Rgb = [0, 160, 255]
/** The coloured square in pixels: left, top, right, bottom (even, so chroma blocks are whole). */
const SQUARE = { x1: 200, y1: 100, x2: 328, y2: 228 }
const SQUARE_BOX: RelativeBox = [SQUARE.x1 / WIDTH, SQUARE.y1 / HEIGHT, SQUARE.x2 / WIDTH, SQUARE.y2 / HEIGHT]
const RED: Rgb = [255, 0, 0]

/** A grey 640x360 frame with a blue square. */
function syntheticFrame(): Frame {
  const rgb = new Uint8Array(WIDTH * HEIGHT * 3)
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const inSquare = x >= SQUARE.x1 && x < SQUARE.x2 && y >= SQUARE.y1 && y < SQUARE.y2
      rgb.set(inSquare ? SQUARE_COLOUR : GREY, (y * WIDTH + x) * 3)
    }
  }
  return rgbToFrame(rgb, WIDTH, HEIGHT, 3)
}

interface Decoded {
  width: number
  height: number
  pixel(x: number, y: number): Rgb
}

async function decode(jpeg: Buffer): Promise<Decoded> {
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return {
    width: info.width,
    height: info.height,
    pixel: (x, y) => {
      const i = (y * info.width + x) * info.channels
      return [data[i]!, data[i + 1]!, data[i + 2]!]
    },
  }
}

function expectColour(actual: Rgb, expected: Rgb, tolerance: number) {
  for (let c = 0; c < 3; c++) {
    expect(
      Math.abs(actual[c]! - expected[c]!),
      `channel ${c} of [${actual}] vs [${expected}]`,
    ).toBeLessThanOrEqual(tolerance)
  }
}

const isJpegMagic = (b: Buffer) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff

describe('yuv420pToRgb', () => {
  it('converts BT.601 limited range back to the RGB the frame was made from', () => {
    const rgb = yuv420pToRgb(syntheticFrame())
    const at = (x: number, y: number): Rgb => {
      const i = (y * WIDTH + x) * 3
      return [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!]
    }
    expectColour(at(10, 10), GREY, 2)
    expectColour(at(264, 164), SQUARE_COLOUR, 3)
  })

  it('rejects odd, short and wrongly sized buffers', () => {
    const frame = syntheticFrame()
    expect(() => yuv420pToRgb({ ...frame, width: 639 })).toThrow(/not even/)
    expect(() => yuv420pToRgb({ ...frame, data: frame.data.subarray(0, 100) })).toThrow(/needs more/)
    expect(() => yuv420pToRgb(frame, Buffer.alloc(10))).toThrow(RangeError)
  })
})

describe('encodeSnapshot', () => {
  it('encodes the whole frame as a JPEG with its size and colours', async () => {
    const jpeg = await encodeSnapshot(syntheticFrame())
    expect(isJpegMagic(jpeg)).toBe(true)
    const meta = await sharp(jpeg).metadata()
    expect(meta.format).toBe('jpeg')
    const image = await decode(jpeg)
    expect([image.width, image.height]).toEqual([WIDTH, HEIGHT])
    expectColour(image.pixel(264, 164), SQUARE_COLOUR, 12)
    expectColour(image.pixel(20, 20), GREY, 6)
  })

  it('scales down to maxWidth keeping the aspect ratio, and never up', async () => {
    const small = await decode(await encodeSnapshot(syntheticFrame(), { maxWidth: 320 }))
    expect([small.width, small.height]).toEqual([320, 180])
    expectColour(small.pixel(132, 82), SQUARE_COLOUR, 12)
    const same = await decode(await encodeSnapshot(syntheticFrame(), { maxWidth: 1920 }))
    expect([same.width, same.height]).toEqual([WIDTH, HEIGHT])
  })

  it('lower quality gives a smaller file', async () => {
    const frame = syntheticFrame()
    const low = await encodeSnapshot(frame, { quality: 20 })
    const high = await encodeSnapshot(frame, { quality: 95 })
    expect(low.length).toBeLessThan(high.length)
  })

  it('rejects bad options', async () => {
    const frame = syntheticFrame()
    await expect(encodeSnapshot(frame, { quality: 0 })).rejects.toThrow(/quality must be/)
    await expect(encodeSnapshot(frame, { quality: 101 })).rejects.toThrow(RangeError)
    await expect(encodeSnapshot(frame, { maxWidth: 0 })).rejects.toThrow(/maxWidth must be/)
    await expect(encodeSnapshot(frame, { maxWidth: 10.5 })).rejects.toThrow(RangeError)
  })
})

describe('annotateSnapshot', () => {
  it('draws the box outline: the box edge is the box colour, its centre is not', async () => {
    const jpeg = await encodeSnapshot(syntheticFrame())
    const out = await annotateSnapshot(jpeg, SQUARE_BOX, { drawBox: true })
    expect(isJpegMagic(out)).toBe(true)
    const image = await decode(out)
    expect([image.width, image.height]).toEqual([WIDTH, HEIGHT])
    // The outline is stroked inside the box: its edge pixels on all four sides.
    expectColour(image.pixel(SQUARE.x1 + 1, 164), RED, 40)
    expectColour(image.pixel(SQUARE.x2 - 2, 164), RED, 40)
    expectColour(image.pixel(264, SQUARE.y1 + 1), RED, 40)
    expectColour(image.pixel(264, SQUARE.y2 - 2), RED, 40)
    expectColour(image.pixel(264, 164), SQUARE_COLOUR, 12)
    expectColour(image.pixel(SQUARE.x1 - 12, 164), GREY, 12)
  })

  it('writes the label on a tab above the box', async () => {
    const jpeg = await encodeSnapshot(syntheticFrame())
    const out = await annotateSnapshot(jpeg, SQUARE_BOX, { drawBox: true, label: 'person <87%> & co' })
    const image = await decode(out)
    expectColour(image.pixel(SQUARE.x1 + 1, SQUARE.y1 - 3), RED, 40)
    expectColour(image.pixel(SQUARE.x1 + 1, SQUARE.y1 - 60), GREY, 12)
  })

  it('crops to the box with a margin', async () => {
    const jpeg = await encodeSnapshot(syntheticFrame())
    const out = await annotateSnapshot(jpeg, SQUARE_BOX, { crop: true })
    const image = await decode(out)
    // 128 px box + 15% (19.2 px) each side, widened to whole pixels: 180..348 and 80..248.
    expect(snapshotCropRegion(WIDTH, HEIGHT, SQUARE_BOX)).toEqual({
      left: 180,
      top: 80,
      width: 168,
      height: 168,
    })
    expect([image.width, image.height]).toEqual([168, 168])
    expectColour(image.pixel(84, 84), SQUARE_COLOUR, 12)
    expectColour(image.pixel(5, 5), GREY, 8)
  })

  it('crops and draws together: the outline sits where the box is in the crop', async () => {
    const jpeg = await encodeSnapshot(syntheticFrame())
    const image = await decode(await annotateSnapshot(jpeg, SQUARE_BOX, { crop: true, drawBox: true }))
    expect([image.width, image.height]).toEqual([168, 168])
    expectColour(image.pixel(SQUARE.x1 - 180 + 1, 84), RED, 40)
    expectColour(image.pixel(84, 84), SQUARE_COLOUR, 12)
  })

  it('keeps a crop of a tiny box at the minimum size and inside the image', () => {
    expect(snapshotCropRegion(WIDTH, HEIGHT, [0, 0, 0.01, 0.01])).toEqual({
      left: 0,
      top: 0,
      width: MIN_CROP_SIZE,
      height: MIN_CROP_SIZE,
    })
    const corner = snapshotCropRegion(WIDTH, HEIGHT, [0.99, 0.99, 1, 1])
    expect(corner).toEqual({
      left: WIDTH - MIN_CROP_SIZE,
      top: HEIGHT - MIN_CROP_SIZE,
      width: 64,
      height: 64,
    })
    expect(snapshotCropRegion(WIDTH, HEIGHT, [0, 0, 1, 1])).toEqual({
      left: 0,
      top: 0,
      width: WIDTH,
      height: HEIGHT,
    })
    // An image smaller than the minimum is the crop.
    expect(snapshotCropRegion(40, 30, [0.4, 0.4, 0.5, 0.5])).toEqual({
      left: 0,
      top: 0,
      width: 40,
      height: 30,
    })
  })

  it('returns the snapshot untouched when asked for neither box nor crop', async () => {
    const jpeg = await encodeSnapshot(syntheticFrame())
    expect(await annotateSnapshot(jpeg, SQUARE_BOX, {})).toBe(jpeg)
  })

  it('rejects boxes outside 0..1 or empty with a RangeError that says why', async () => {
    const jpeg = await encodeSnapshot(syntheticFrame())
    const bad: [unknown, RegExp][] = [
      [[-0.1, 0, 0.5, 0.5], /every value in 0\.\.1/],
      [[0, 0, 1, 1.2], /every value in 0\.\.1/],
      [[0, Number.NaN, 0.5, 0.5], /every value in 0\.\.1/],
      [[0.5, 0, 0.5, 1], /x2 must exceed x1/],
      [[0.6, 0, 0.5, 1], /x2 must exceed x1/],
      [[0, 0.7, 1, 0.2], /y2 must exceed y1/],
      [[0, 0, 1], /must be \[x1, y1, x2, y2\]/],
    ]
    for (const [box, message] of bad) {
      const err = await annotateSnapshot(jpeg, box as RelativeBox, { drawBox: true }).catch((e: unknown) => e)
      expect(err, JSON.stringify(box)).toBeInstanceOf(RangeError)
      expect((err as Error).message).toMatch(message)
    }
  })

  it('rejects bytes that are not a JPEG with a NotJpegError', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .png()
      .toBuffer()
    const jpeg = await encodeSnapshot(syntheticFrame())
    for (const bytes of [png, Buffer.from('hello'), Buffer.alloc(0), jpeg.subarray(0, 200)]) {
      const err = await annotateSnapshot(bytes, SQUARE_BOX, { crop: true }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(NotJpegError)
      expect((err as Error).message).toMatch(/not a (readable )?JPEG/)
    }
  })
})

describe.skipIf(!haveShared)('snapshot of a real photo', () => {
  it('still shows the detector a person after the JPEG round trip', async () => {
    const photo = await sharp(PERSON).raw().toBuffer({ resolveWithObject: true })
    const frame = rgbToFrame(photo.data, photo.info.width, photo.info.height, photo.info.channels)
    const jpeg = await encodeSnapshot(frame)
    const back = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true })
    expect([back.info.width, back.info.height]).toEqual([frame.width, frame.height])
    const roundTrip = rgbToFrame(back.data, back.info.width, back.info.height, back.info.channels)
    const detector = await OnnxDetector.load(MODEL, { format: 'yolox' })
    try {
      const found = await detector.detect(
        roundTrip,
        { x1: 0, y1: 0, x2: roundTrip.width, y2: roundTrip.height },
        0.5,
      )
      const person = found.find((d) => d.label === 'person')
      expect(person, JSON.stringify(found)).toBeDefined()
      expect(person!.score).toBeGreaterThanOrEqual(0.5)
    } finally {
      await detector.close()
    }
  })
})
