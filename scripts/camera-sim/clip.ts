import { readFileSync } from 'node:fs'
import { parseAudioSpecificConfig } from '../../edge-agent/src/media/codec/aac.ts'
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

/**
 * A looping AAC clip: an ADTS stream (ISO 14496-3 §1.A.2) split into raw frames, headers stripped
 * as RTP (RFC 3640) and containers carry them, with the AudioSpecificConfig the SDP advertises.
 */
export interface AudioClip {
  config: Buffer
  sampleRate: number
  channels: number
  /** Samples per frame (AAC-LC: 1024). */
  frameLength: number
  frames: Buffer[]
}

export function loadAdtsClip(file: string): AudioClip {
  const buf = readFileSync(file)
  const frames: Buffer[] = []
  let header: { profile: number; rateIndex: number; channelConfig: number } | undefined
  for (let offset = 0; offset < buf.length; ) {
    if (offset + 7 > buf.length || buf[offset] !== 0xff || ((buf[offset + 1] as number) & 0xf6) !== 0xf0)
      throw new Error(`${file}: no ADTS sync word at byte ${offset}`)
    const b2 = buf[offset + 2] as number
    const b3 = buf[offset + 3] as number
    const protectionAbsent = ((buf[offset + 1] as number) & 1) === 1
    const length =
      ((b3 & 0x03) << 11) | ((buf[offset + 4] as number) << 3) | ((buf[offset + 5] as number) >> 5)
    const blocks = ((buf[offset + 6] as number) & 0x03) + 1
    const headerLength = protectionAbsent ? 7 : 9 // with a CRC
    if (length <= headerLength || offset + length > buf.length)
      throw new Error(`${file}: bad ADTS frame at ${offset}`)
    // Several raw data blocks per ADTS frame would need splitting on their own CRCs; encoders write one.
    if (blocks !== 1) throw new Error(`${file}: ADTS frames with ${blocks} raw data blocks are not supported`)
    const h = { profile: b2 >> 6, rateIndex: (b2 >> 2) & 0x0f, channelConfig: ((b2 & 1) << 2) | (b3 >> 6) }
    header ??= h
    if (
      h.profile !== header.profile ||
      h.rateIndex !== header.rateIndex ||
      h.channelConfig !== header.channelConfig
    )
      throw new Error(`${file}: the ADTS stream changes format at byte ${offset}`)
    frames.push(buf.subarray(offset + headerLength, offset + length))
    offset += length
  }
  if (!header) throw new Error(`${file}: no ADTS frames`)
  // AudioSpecificConfig: object type (ADTS profile + 1), sampling index, channels, GA flags all 0.
  const config = Buffer.alloc(2)
  config.writeUInt16BE(((header.profile + 1) << 11) | (header.rateIndex << 7) | (header.channelConfig << 3))
  const asc = parseAudioSpecificConfig(config)
  if (!asc) throw new Error(`${file}: unsupported AAC format`)
  return { config, sampleRate: asc.sampleRate, channels: asc.channels, frameLength: asc.frameLength, frames }
}
