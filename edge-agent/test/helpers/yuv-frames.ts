import sharp from 'sharp'
import type { Frame } from '../../src/analytics/types.ts'

/**
 * Packed RGB (or RGBA: alpha ignored) to a yuv420p Frame the way a camera's encoder would: BT.601
 * limited range, chroma the mean of each 2x2 block, cropped to even size.
 */
export function rgbToFrame(rgb: Uint8Array, srcWidth: number, srcHeight: number, channels: number): Frame {
  const width = srcWidth & ~1
  const height = srcHeight & ~1
  const data = Buffer.alloc((width * height * 3) / 2)
  const uBase = width * height
  const vBase = uBase + (width * height) / 4
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * srcWidth + x) * channels
      data[y * width + x] = Math.round(
        16 + (65.481 * rgb[i]! + 128.553 * rgb[i + 1]! + 24.966 * rgb[i + 2]!) / 255,
      )
    }
  }
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      let u = 0
      let v = 0
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ] as const) {
        const i = ((y + dy) * srcWidth + x + dx) * channels
        const [r, g, b] = [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!]
        u += 128 + (-37.797 * r - 74.203 * g + 112 * b) / 255
        v += 128 + (112 * r - 93.786 * g - 18.214 * b) / 255
      }
      const c = (y / 2) * (width / 2) + x / 2
      data[uBase + c] = Math.round(u / 4)
      data[vBase + c] = Math.round(v / 4)
    }
  }
  return { width, height, data, time: 0 }
}

/** A photo as the decoder would hand it over (alpha dropped). */
export async function photoFrame(file: string): Promise<Frame> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return rgbToFrame(data, info.width, info.height, info.channels)
}
