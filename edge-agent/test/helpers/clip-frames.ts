import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Clip, loadClip } from '../../../scripts/camera-sim/clip.ts'
import type { AccessUnit } from '../../src/media/codec/access-unit.ts'
import type { StreamInfo } from '../../src/media/rtsp/client.ts'

/**
 * Frames for recorder tests that feed the recorder directly, without a network: the simulator's
 * H.264 clip (15 fps, a keyframe a second) and the stream description a camera session would give.
 */
const clips = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/camera-sim/clips')

export const FPS = 15

export function simH264Clip(): Clip {
  return loadClip(path.join(clips, 'sim-h264.h264'), 'h264', FPS)
}

/** Frame `i` of the clip (looping) as the depacketizer would hand it on: 90 kHz, from `t0`. */
export function clipAccessUnit(clip: Clip, i: number, t0: number): AccessUnit {
  const f = clip.frames[i % clip.frames.length] as Clip['frames'][number]
  return {
    codec: 'h264',
    timestamp: i * (90_000 / FPS),
    wallMs: t0 + (i * 1000) / FPS,
    nalus: f.nalus,
    keyframe: f.keyframe,
    damaged: false,
  }
}

/** What an H.264 camera session reports (parameter sets come in band). */
export function h264StreamInfo(): StreamInfo {
  return {
    codec: 'h264',
    parameterSets: [],
    clockRate: 90_000,
    trackUrl: 'rtsp://camera/track1',
    transport: 'tcp',
    sdp: { media: [] } as unknown as StreamInfo['sdp'],
  }
}
