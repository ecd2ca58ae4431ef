import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

/**
 * A simulator clip with another keyframe interval than the bundled ones (one a second): the same
 * test pattern and bitrate, encoded by ffmpeg on first use and kept in the temporary directory, so
 * live view can be tried against cameras with 2, 4 or 10 s GOPs. The clip lasts a whole number of
 * GOPs and at least the bundled clips' 10 s, so its loop keeps the interval.
 */
export interface GopClipSpec {
  codec: 'h264' | 'h265'
  /** A sub-stream's size and bitrate (320x180, 100 kbit/s) instead of the main's (640x360, 250). */
  sub: boolean
  fps: number
  gopSeconds: number
}

/** Frames between keyframes; throws on a GOP that is not a whole, positive number of frames. */
export function gopFrames(fps: number, gopSeconds: number): number {
  const frames = fps * gopSeconds
  if (!Number.isInteger(frames) || frames < 1 || gopSeconds > 60)
    throw new Error(
      `gopSeconds ${gopSeconds} at ${fps} fps is not a whole number of frames (1 frame to 60 s)`,
    )
  return frames
}

/** The clip's length: whole GOPs, at least 10 s. */
export function clipSeconds(gopSeconds: number): number {
  return gopSeconds * Math.max(1, Math.ceil(10 / gopSeconds))
}

export function ffmpegArgs(spec: GopClipSpec, file: string): string[] {
  const g = String(gopFrames(spec.fps, spec.gopSeconds))
  const size = spec.sub ? '320x180' : '640x360'
  const kbps = spec.sub ? 100 : 250
  const input = [
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=${spec.fps}`,
    '-t',
    String(clipSeconds(spec.gopSeconds)),
  ]
  const video =
    spec.codec === 'h264'
      ? [
          ...['-c:v', 'libx264', '-profile:v', 'main', '-preset', 'veryfast', '-bf', '0'],
          ...['-g', g, '-keyint_min', g, '-sc_threshold', '0'],
          ...[
            '-b:v',
            `${kbps}k`,
            '-maxrate',
            `${Math.round(kbps * 1.2)}k`,
            '-bufsize',
            `${Math.round(kbps * 1.2)}k`,
          ],
          ...['-pix_fmt', 'yuv420p', '-x264-params', 'aud=1', '-f', 'h264'],
        ]
      : [
          ...['-c:v', 'libx265', '-preset', 'veryfast', '-g', g, '-keyint_min', g, '-b:v', `${kbps}k`],
          ...['-pix_fmt', 'yuv420p'],
          ...['-x265-params', `aud=1:bframes=0:log-level=error:keyint=${g}:min-keyint=${g}:scenecut=0`],
          ...['-f', 'hevc'],
        ]
  return ['-hide_banner', '-loglevel', 'error', ...input, ...video, '-y', file]
}

const cached = new Map<string, Promise<string>>()

/** The clip's file, encoded once per spec and machine (needs ffmpeg: FFMPEG_PATH or on PATH). */
export function gopClip(spec: GopClipSpec): Promise<string> {
  const name = `sim-${spec.codec}${spec.sub ? '-sub' : ''}-${spec.fps}fps-gop${spec.gopSeconds}s.${spec.codec}`
  let file = cached.get(name)
  if (!file) {
    file = encode(spec, name)
    cached.set(name, file)
    file.catch(() => cached.delete(name))
  }
  return file
}

async function encode(spec: GopClipSpec, name: string): Promise<string> {
  const dir = path.join(tmpdir(), 'vms-sim-clips')
  const file = path.join(dir, name)
  if (existsSync(file)) return file
  mkdirSync(dir, { recursive: true })
  // Written aside and renamed: another process may be encoding the same clip.
  const partial = `${file}.${process.pid}.${Date.now()}.part`
  try {
    await promisify(execFile)(process.env.FFMPEG_PATH ?? 'ffmpeg', ffmpegArgs(spec, partial), {
      timeout: 120_000,
    })
    renameSync(partial, file)
  } catch (err) {
    rmSync(partial, { force: true })
    throw new Error(
      `the simulator could not encode a ${spec.gopSeconds} s GOP clip with ffmpeg: ${(err as Error).message}`,
    )
  }
  return file
}
