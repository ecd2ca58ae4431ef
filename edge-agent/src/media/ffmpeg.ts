import { accessSync, constants } from 'node:fs'
import path from 'node:path'

/**
 * Where ffmpeg is: FFMPEG_PATH, else `ffmpeg` on PATH (Debian's package). The agent never
 * downloads it. ffmpeg only ever gets fixed arguments and media on stdin — never a camera URL or
 * credentials — and is spawned without a shell.
 */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    env.FFMPEG_PATH,
    ...(env.PATH ?? '').split(path.delimiter).map((dir) => (dir ? path.join(dir, 'ffmpeg') : undefined)),
  ]
  for (const file of candidates) {
    if (!file) continue
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {}
  }
  return undefined
}
