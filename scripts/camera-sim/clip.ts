import { readFileSync } from 'node:fs'
import { splitAnnexB } from '../../edge-agent/src/media/codec/access-unit.ts'
import { h264NalType } from '../../edge-agent/src/media/codec/h264.ts'
import { h265NalType } from '../../edge-agent/src/media/codec/h265.ts'

/**
 * A looping clip for the simulator: an Annex B elementary stream split into access units on its
 * access-unit delimiters, with the parameter sets the SDP advertises.
 */
export interface Clip {
  codec: 'h264' | 'h265'
  fps: number
  frames: { nalus: Buffer[]; keyframe: boolean }[]
  parameterSets: Buffer[]
}

export function loadClip(file: string, codec: 'h264' | 'h265', fps: number): Clip {
  const nalus = splitAnnexB(readFileSync(file))
  const isAud = codec === 'h264' ? (n: Buffer) => h264NalType(n) === 9 : (n: Buffer) => h265NalType(n) === 35
  const isKey =
    codec === 'h264'
      ? (n: Buffer) => h264NalType(n) === 5
      : (n: Buffer) => h265NalType(n) >= 16 && h265NalType(n) <= 21
  const isPs =
    codec === 'h264'
      ? (n: Buffer) => h264NalType(n) === 7 || h264NalType(n) === 8
      : (n: Buffer) => h265NalType(n) >= 32 && h265NalType(n) <= 34
  const frames: Clip['frames'] = []
  const parameterSets = new Map<number, Buffer>()
  let current: Buffer[] = []
  const flush = () => {
    if (current.length > 0) frames.push({ nalus: current, keyframe: current.some(isKey) })
    current = []
  }
  for (const n of nalus) {
    if (isAud(n)) {
      flush()
      continue
    }
    // SEI and other non-VCL units ride along; parameter sets are remembered for the SDP.
    if (isPs(n)) parameterSets.set(codec === 'h264' ? h264NalType(n) : h265NalType(n), n)
    current.push(n)
  }
  flush()
  if (!frames[0]?.keyframe) throw new Error(`${file}: the clip must start with a keyframe`)
  return {
    codec,
    fps,
    frames,
    parameterSets: [...parameterSets.entries()].sort(([a], [b]) => a - b).map(([, v]) => v),
  }
}
