import { spawn } from 'node:child_process'
import sharp from 'sharp'

/**
 * Test clips of a real photo moving over a plain grey scene, made at test or bench time (the photo
 * lives beside the repository in `../shared/media`, never in it): the frames are drawn here and
 * encoded by ffmpeg as the camera simulator plays them (Annex B H.264 with access-unit delimiters,
 * a keyframe a second, no B-frames, like IP cameras).
 */
export interface PersonClip {
  /** Where to write the `.h264` file. */
  file: string
  ffmpeg: string
  /** The photo (a path sharp reads) and the height it is scaled to. */
  photo: string
  photoHeight: number
  width: number
  height: number
  fps: number
  frames: number
  /** Top edge of the photo in every frame. */
  top: number
  /** Grey level of the scene. */
  background: number
  bitrateKbps: number
  /** Left edge of the photo in frame `i`, or undefined when it is not in view. */
  left(i: number, photoWidth: number): number | undefined
}

/** Encodes the clip; resolves with the photo's width as drawn. */
export async function encodePersonClip(c: PersonClip): Promise<{ photoWidth: number }> {
  const { data: photo, info } = await sharp(c.photo)
    .removeAlpha()
    .resize({ height: c.photoHeight })
    .raw()
    .toBuffer({ resolveWithObject: true })
  const proc = spawn(
    c.ffmpeg,
    [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24'],
      ...['-s', `${c.width}x${c.height}`, '-r', String(c.fps), '-i', 'pipe:0'],
      ...['-c:v', 'libx264', '-profile:v', 'main', '-preset', 'veryfast', '-bf', '0'],
      ...[
        '-g',
        String(c.fps),
        '-keyint_min',
        String(c.fps),
        '-sc_threshold',
        '0',
        '-b:v',
        `${c.bitrateKbps}k`,
      ],
      ...['-pix_fmt', 'yuv420p', '-x264-params', 'aud=1', '-f', 'h264', '-y', c.file],
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  )
  let stderr = ''
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const done = new Promise<void>((resolve, reject) => {
    proc.on('error', reject)
    proc.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg failed (${code}): ${stderr}`)),
    )
  })
  for (let i = 0; i < c.frames; i++) {
    const rgb = Buffer.alloc(c.width * c.height * 3, c.background)
    const left = c.left(i, info.width)
    if (left !== undefined) {
      for (let y = 0; y < info.height; y++) {
        const from = y * info.width * 3
        photo.copy(rgb, ((c.top + y) * c.width + left) * 3, from, from + info.width * 3)
      }
    }
    if (!proc.stdin.write(rgb)) await new Promise((r) => proc.stdin.once('drain', r))
  }
  proc.stdin.end()
  await done
  return { photoWidth: info.width }
}
