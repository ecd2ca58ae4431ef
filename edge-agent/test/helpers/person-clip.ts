import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodePersonClip } from '../../../scripts/lib/person-clip.ts'
import { findFfmpeg } from '../../src/media/ffmpeg.ts'

/**
 * Test material for analytics end to end: the real detector and photo live beside the repository
 * (`../shared`, never copied into it), and the clip is made from the photo at test time.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const SHARED_MODEL = path.resolve(repoRoot, '../shared/models/yolox_nano.onnx')
export const SHARED_PERSON = path.resolve(repoRoot, '../shared/media/person.png')

/** Why the real-model analytics tests cannot run here, or undefined when they can. */
export function analyticsMaterialMissing(): string | undefined {
  if (!existsSync(SHARED_MODEL)) return `${SHARED_MODEL} is absent`
  if (!existsSync(SHARED_PERSON)) return `${SHARED_PERSON} is absent`
  if (!findFfmpeg()) return 'ffmpeg is not installed'
  return undefined
}

export const CLIP = { width: 640, height: 360, fps: 10 } as const

/**
 * What the clip shows, by frame (10 fps, 17 s, looping in the simulator): a plain grey scene
 * (0-19), a person sliding in from the left edge (20-49), standing still in the left half (50-79),
 * sliding back to the edge (80-99), then gone for 7 s (100-169) — longer than the tracker's 5 s,
 * so each pass is one event that ends before the next pass begins. The person's feet never cross
 * the middle: a zone over the left half sees them, one over the right half never does.
 */
export const CLIP_FRAMES = 170
export function personLeft(frame: number): number | undefined {
  if (frame < 20 || frame >= 100) return undefined
  if (frame < 50) return Math.round(((frame - 20) * 120) / 29)
  if (frame < 80) return 120
  return Math.round(((99 - frame) * 120) / 19)
}

/** Encodes the clip as the simulator wants it (Annex B H.264, AUDs, a keyframe a second, no B-frames). */
export async function makePersonClip(file: string): Promise<string> {
  const ffmpeg = findFfmpeg()
  if (!ffmpeg) throw new Error('ffmpeg is not installed')
  await encodePersonClip({
    file,
    ffmpeg,
    photo: SHARED_PERSON,
    photoHeight: 160,
    ...CLIP,
    frames: CLIP_FRAMES,
    top: 150,
    background: 120,
    bitrateKbps: 400,
    left: personLeft,
  })
  return file
}
