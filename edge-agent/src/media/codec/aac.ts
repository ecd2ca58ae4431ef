import type { SdpMedia } from '../sdp/sdp.ts'
import { BitReader } from './sps.ts'

/**
 * AAC from cameras: the AudioSpecificConfig (ISO 14496-3 §1.6.2.1) the SDP carries in `config=`,
 * the RFC 3640 parameters of an `MPEG4-GENERIC` audio section, and RFC 3640 depacketisation into
 * raw AAC access units (no ADTS headers: containers want them bare, with the config apart).
 * Everything here is pure and never throws: cameras send odd SDP and networks corrupt packets.
 */
export interface AudioSpecificConfig {
  /** Audio object type as signalled first (2 = AAC-LC; 5 / 29 for explicit HE-AAC / HE-AACv2). */
  objectType: number
  /** Output sampling rate (for SBR the extension rate, which is twice the core rate of the AUs). */
  sampleRate: number
  channels: number
  /** Samples per AU of the core coder (GASpecificConfig frameLengthFlag). */
  frameLength: 1024 | 960
}

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]
/** channelConfiguration to channel count; 0 means a program_config_element follows, others are reserved. */
const CHANNELS: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 14: 8 }
/** Object types whose payload is GASpecificConfig (the AAC family whose frames are 1024 or 960 long). */
const GA_TYPES = new Set([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23])

interface ParsedConfig extends AudioSpecificConfig {
  /** Sampling rate of the AUs themselves (differs from sampleRate with SBR). */
  coreSampleRate: number
}

function objectType(r: BitReader): number {
  const aot = r.u(5)
  return aot === 31 ? 32 + r.u(6) : aot
}

function samplingRate(r: BitReader): number | undefined {
  const index = r.u(4)
  return index === 15 ? r.u(24) : SAMPLE_RATES[index]
}

/** program_config_element (§4.4.1.1): only the channel count is wanted from it. */
function pceChannels(r: BitReader): number {
  r.skip(4 + 2 + 4) // element_instance_tag, object_type, sampling_frequency_index
  const front = r.u(4)
  const side = r.u(4)
  const back = r.u(4)
  const lfe = r.u(2)
  r.skip(3 + 4) // num_assoc_data_elements, num_valid_cc_elements
  if (r.u(1) === 1) r.skip(4) // mono_mixdown_element_number
  if (r.u(1) === 1) r.skip(4) // stereo_mixdown_element_number
  if (r.u(1) === 1) r.skip(3) // matrix_mixdown_idx, pseudo_surround_enable
  // Each LFE element is one channel; front, side and back elements are mono (SCE) or stereo (CPE).
  let channels = lfe
  for (let i = 0; i < front + side + back; i++) {
    channels += r.u(1) === 1 ? 2 : 1
    r.skip(4)
  }
  return channels
}

function parseConfig(buf: Buffer): ParsedConfig | undefined {
  try {
    const r = new BitReader(buf)
    const first = objectType(r)
    let aot = first
    const coreRate = samplingRate(r)
    let rate = coreRate
    const channelConfig = r.u(4)
    if (aot === 5 || aot === 29) {
      // Explicit hierarchical SBR/PS signalling: the output rate, then the core object type.
      rate = samplingRate(r)
      aot = objectType(r)
      if (aot === 22) r.skip(4)
    }
    if (!coreRate || !rate || !GA_TYPES.has(aot)) return undefined
    // GASpecificConfig (§4.4.1)
    const frameLength = r.u(1) === 1 ? 960 : 1024
    if (r.u(1) === 1) r.skip(14) // dependsOnCoreCoder: coreCoderDelay
    r.skip(1) // extensionFlag
    const channels = channelConfig === 0 ? pceChannels(r) : CHANNELS[channelConfig]
    if (!channels) return undefined
    return { objectType: first, sampleRate: rate, channels, frameLength, coreSampleRate: coreRate }
  } catch {
    return undefined // truncated
  }
}

export function parseAudioSpecificConfig(buf: Buffer): AudioSpecificConfig | undefined {
  const c = parseConfig(buf)
  return (
    c && {
      objectType: c.objectType,
      sampleRate: c.sampleRate,
      channels: c.channels,
      frameLength: c.frameLength,
    }
  )
}

export interface AacParams {
  /** The AudioSpecificConfig, for the decoder / container (esds). */
  config: Buffer
  /** The RTP clock rate (RFC 3640: the sampling rate), in which timestamps count. */
  sampleRate: number
  channels: number
  /** Duration of one AU in RTP clock ticks (1024 for AAC-LC; 2048 for HE-AAC clocked at its output rate). */
  frameLength: number
  sizeLength: number
  indexLength: number
  indexDeltaLength: number
  /** RFC 6381, e.g. 'mp4a.40.2' */
  codecString: string
}

/** AU header field sizes fixed by the mode (RFC 3640 §3.3.5, §3.3.6). */
const MODES: Record<string, [number, number, number]> = {
  'aac-hbr': [13, 3, 3],
  'aac-lbr': [6, 2, 2],
}

/** AU header field sizes a header can be read with: an AU-size of 1 to 16 bits (13 bits address 8 KiB AUs). */
function validLengths(size: number, index: number, indexDelta: number): boolean {
  const ok = (n: number, min: number) => Number.isInteger(n) && n >= min && n <= 16
  return ok(size, 1) && ok(index, 0) && ok(indexDelta, 0)
}

function fieldLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,2}$/.test(value.trim())) return undefined
  return Number(value)
}

/**
 * From an SDP audio media section: rtpmap MPEG4-GENERIC/<rate>[/<channels>], fmtp streamtype=5;
 * mode=AAC-hbr (sizelength=13;indexlength=3;indexdeltalength=3) or AAC-lbr (6/2/2); config=<hex>.
 * Case-insensitive keys/values as real cameras vary. undefined when not AAC or unusable.
 */
export function aacParams(media: SdpMedia): AacParams | undefined {
  if (media.codec?.toUpperCase() !== 'MPEG4-GENERIC') return undefined
  const get = (key: string) => {
    // The SDP parser lowercases keys; look them up case-blind anyway for hand-made SdpMedia.
    for (const [k, v] of media.fmtp) if (k.toLowerCase() === key) return v.trim()
    return undefined
  }
  const streamType = get('streamtype')
  if (streamType !== undefined && streamType !== '5') return undefined // 5: audio (ISO 14496-1)
  const mode = get('mode')?.toLowerCase()
  const defaults = mode ? MODES[mode] : undefined
  // Cameras sometimes leave out what the mode implies, or state the lengths under mode=generic.
  if (mode && !defaults && mode !== 'generic') return undefined
  const sizeLength = fieldLength(get('sizelength')) ?? defaults?.[0]
  const indexLength = fieldLength(get('indexlength')) ?? defaults?.[1] ?? 0
  const indexDeltaLength = fieldLength(get('indexdeltalength')) ?? defaults?.[2] ?? 0
  // Without an AU-size in every header there is no telling where one AU ends (constantsize is not AAC).
  if (!sizeLength || !validLengths(sizeLength, indexLength, indexDeltaLength)) return undefined
  const hex = get('config') ?? ''
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(hex)) return undefined
  const config = Buffer.from(hex, 'hex')
  const asc = parseConfig(config)
  if (!asc) return undefined
  const clock = media.clockRate && media.clockRate > 0 ? media.clockRate : asc.sampleRate
  // An AU is frameLength core samples; the RTP clock may count at the SBR output rate instead.
  const constant = get('constantduration')
  const frameLength =
    constant && /^[1-9]\d{0,5}$/.test(constant)
      ? Number(constant)
      : Math.round((asc.frameLength * clock) / asc.coreSampleRate)
  if (!(frameLength > 0)) return undefined
  return {
    config,
    sampleRate: clock,
    channels: asc.channels,
    frameLength,
    sizeLength,
    indexLength,
    indexDeltaLength,
    codecString: `mp4a.40.${asc.objectType}`,
  }
}

/**
 * RFC 3640 depacketisation: a 16-bit AU-headers-length (in bits), then one AU header per AU
 * (AU-size and AU-index, then AU-size and AU-index-delta), padded to a byte, then the AUs back to
 * back. One packet carries one or several whole AUs, or one fragment of an AU too large for a
 * packet: the header then states the whole AU's size, every fragment has the same RTP timestamp
 * and the last has the marker bit. A fragmented AU with a lost piece is dropped, never patched.
 *
 * AU-index values are not used: cameras never interleave, so AU i of a packet is at
 * ts + i * frameLength.
 */
export class AacDepacketizer {
  private fragment: { timestamp: number; size: number; parts: Buffer[]; received: number } | undefined

  constructor(private readonly params: AacParams) {}

  /**
   * timestamp: the packet's RTP timestamp (already unwrapped to a number in the sample clock).
   * Returns the complete AUs with their timestamps (ts + i * frameLength), or 'invalid' for a
   * malformed payload.
   */
  push(
    payload: Buffer,
    timestamp: number,
    marker: boolean,
    sequenceGap = false,
  ): { timestamp: number; data: Buffer }[] | 'invalid' {
    if (sequenceGap) this.fragment = undefined // whatever was being reassembled lost a piece
    const sizes = this.auSizes(payload)
    if (sizes === 'invalid') {
      this.fragment = undefined
      return 'invalid'
    }
    const headerBytes = Math.ceil(payload.readUInt16BE(0) / 8)
    const data = payload.subarray(2 + headerBytes)
    const first = sizes[0] as number
    if (sizes.length === 1 && first > data.length) return this.addFragment(first, data, timestamp, marker)
    // Whole AUs: anything half-assembled before them is lost.
    this.fragment = undefined
    const out: { timestamp: number; data: Buffer }[] = []
    let offset = 0
    for (const [i, size] of sizes.entries()) {
      // Several AUs are never fragments: they must all be there.
      if (offset + size > data.length) return 'invalid'
      out.push({
        timestamp: timestamp + i * this.params.frameLength,
        // A copy: a view would keep the socket's whole read buffer alive in the consumers' queues.
        data: Buffer.from(data.subarray(offset, offset + size)),
      })
      offset += size
    }
    return out
  }

  /** The AU sizes from the header section, or 'invalid' when it does not add up. */
  private auSizes(payload: Buffer): number[] | 'invalid' {
    const { sizeLength, indexLength, indexDeltaLength } = this.params
    if (payload.length < 2 || !validLengths(sizeLength, indexLength, indexDeltaLength)) return 'invalid'
    const bits = payload.readUInt16BE(0)
    if (bits === 0 || 2 + Math.ceil(bits / 8) > payload.length) return 'invalid'
    const r = new BitReader(payload.subarray(2, 2 + Math.ceil(bits / 8)))
    const sizes: number[] = []
    let used = 0
    while (used < bits) {
      const headerBits = sizeLength + (sizes.length === 0 ? indexLength : indexDeltaLength)
      if (used + headerBits > bits) return 'invalid' // a partial header
      const size = r.u(sizeLength)
      r.skip(headerBits - sizeLength)
      if (size === 0) return 'invalid'
      sizes.push(size)
      used += headerBits
    }
    return sizes
  }

  private addFragment(size: number, data: Buffer, timestamp: number, marker: boolean) {
    const f = this.fragment
    // Bounded by the AU-size field (at most 16 bits: 64 KiB); parts are copies, not views of the
    // socket's read buffers, so what is held is what is counted.
    if (f && f.timestamp === timestamp && f.size === size) {
      f.parts.push(Buffer.from(data))
      f.received += data.length
    } else {
      // A new AU (or a continuation whose start was lost: it will come up short and be dropped).
      this.fragment = { timestamp, size, parts: [Buffer.from(data)], received: data.length }
    }
    const cur = this.fragment as NonNullable<typeof this.fragment>
    if (cur.received > cur.size) {
      this.fragment = undefined
      return 'invalid' as const
    }
    if (cur.received === cur.size) {
      this.fragment = undefined
      return [{ timestamp, data: Buffer.concat(cur.parts, cur.size) }]
    }
    if (marker) this.fragment = undefined // the last fragment, yet short: a piece was lost
    return []
  }
}
