import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** ffprobe from FFMPEG_PATH's directory, PATH or Debian's; tests that need it skip loudly without it. */
const candidates = [
  process.env.FFMPEG_PATH ? process.env.FFMPEG_PATH.replace(/ffmpeg$/, 'ffprobe') : undefined,
  '/usr/bin/ffprobe',
  '/usr/local/bin/ffprobe',
].filter((p): p is string => Boolean(p))
export const ffprobePath = candidates.find((p) => existsSync(p))
if (!ffprobePath) console.warn('SKIPPING media file checks: ffprobe is not installed (apt install ffmpeg)')

export interface Probe {
  codec: string
  width: number
  height: number
  frames: number
  duration: number
}

/** Decodes the whole file (counting frames), so a file that does not decode fails here. */
export function probe(file: string): Probe {
  const out = execFileSync(
    ffprobePath as string,
    [
      '-v',
      'error',
      '-count_frames',
      '-show_entries',
      'stream=codec_name,width,height,nb_read_frames:format=duration',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  )
  const j = JSON.parse(out) as {
    streams: { codec_name: string; width: number; height: number; nb_read_frames: string }[]
    format: { duration: string }
  }
  const s = j.streams[0]
  if (!s) throw new Error(`${file}: no stream`)
  return {
    codec: s.codec_name,
    width: s.width,
    height: s.height,
    frames: Number(s.nb_read_frames),
    duration: Number(j.format.duration),
  }
}
