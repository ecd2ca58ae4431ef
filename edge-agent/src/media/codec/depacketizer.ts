import type { RtpPacket } from '../rtp/rtp.ts'
import type { Timeline } from '../rtp/timeline.ts'
import type { AccessUnit } from './access-unit.ts'
import { videoFormat } from './sps.ts'

/**
 * RTP payloads to access units, for one stream: NAL units are gathered per RTP timestamp and a
 * frame is emitted when the marker bit says it is complete (or the timestamp moves on). Fragments
 * interrupted by loss are dropped and the frame is marked damaged. The codec-specific part is the
 * payload format (RFC 6184 for H.264, RFC 7798 for H.265).
 */
export interface PayloadFormat {
  codec: AccessUnit['codec']
  /** NAL units carried whole by this payload, or fragments handed to the reassembler. */
  unpack(payload: Buffer, fu: FragmentState): Buffer[] | 'invalid'
  isKeyframeNal(nal: Buffer): boolean
  isParameterSet(nal: Buffer): boolean
  /** An access unit delimiter, which must stay the first NAL unit of its access unit. */
  isDelimiter(nal: Buffer): boolean
  /** Parameter sets must come first in a keyframe: VPS/SPS/PPS order. */
  parameterSetRank(nal: Buffer): number
}

export interface FragmentState {
  /** Copies of the fragments so far (never views of the socket's buffers: see `copy`). */
  parts: Buffer[]
  /** Bytes in `parts`. */
  bytes: number
  header: Buffer | undefined
  broken: boolean
  /** Most bytes one NAL unit may reach; set by the depacketizer from the stream's limits. */
  maxBytes: number
  /** Set when a fragmented NAL unit outgrew `maxBytes` (the depacketizer reacts and clears it). */
  overflow: boolean
}

/**
 * How much one access unit may hold while it is reassembled. A hostile or broken camera can send
 * an FU start and then middle fragments forever (one timestamp, no marker); without a bound the
 * agent holds them all (issue 11: 322 MB to 2.46 GB in 42 s).
 */
export interface ReassemblyLimits {
  /** Bytes of NAL units in one access unit, and so in any one NAL unit of it. */
  accessUnitBytes: number
  /** NAL units in one access unit (tiny units cost more than their bytes). */
  nalUnits: number
}

const MiB = 1024 * 1024
/** No stream gets less: small pictures from a generous encoder still fit. */
export const MIN_ACCESS_UNIT_BYTES = 2 * MiB
/** No stream gets more, whatever size its SPS claims. */
export const MAX_ACCESS_UNIT_BYTES = 32 * MiB
/** Until the SPS says how large the picture is (a 1080p stream's limit). */
export const DEFAULT_ACCESS_UNIT_BYTES = 6 * MiB
/** Cameras send a few slices and SEI per frame; H.264 levels allow at most a few hundred slices. */
export const MAX_NAL_UNITS = 4096

/**
 * Limits for a picture of `width` x `height`: 3 bytes a pixel, twice the raw size of an 8-bit 4:2:0
 * picture, which no coded frame of a camera comes near (an intra frame at the highest quality is
 * well under the raw size), between the floor and the absolute cap.
 */
export function reassemblyLimits(width?: number, height?: number): ReassemblyLimits {
  const pixels = width && height && width > 0 && height > 0 ? width * height : undefined
  const bytes = pixels
    ? Math.min(MAX_ACCESS_UNIT_BYTES, Math.max(MIN_ACCESS_UNIT_BYTES, Math.ceil(pixels * 3)))
    : DEFAULT_ACCESS_UNIT_BYTES
  return { accessUnitBytes: bytes, nalUnits: MAX_NAL_UNITS }
}

/**
 * A NAL unit or fragment kept past this packet is copied: the packet is a view of the socket's
 * read buffer, and keeping a view keeps the whole buffer, so a camera padding its stream (or
 * interleaving junk) would make every byte counted against the limits hold 40 times its size.
 */
function copy(b: Buffer): Buffer {
  return Buffer.from(b)
}

export class Depacketizer {
  private current: { ts: number; nalus: Buffer[]; bytes: number; damaged: boolean } | undefined
  private readonly fu: FragmentState = {
    parts: [],
    bytes: 0,
    header: undefined,
    broken: false,
    maxBytes: DEFAULT_ACCESS_UNIT_BYTES,
    overflow: false,
  }
  private readonly parameterSets = new Map<number, Buffer>()
  private lossPending = false
  private reassembly: ReassemblyLimits = reassemblyLimits()
  /** The timestamp of an access unit that outgrew the limits: its remaining packets are skipped. */
  private discardTs: number | undefined
  /** After an oversized access unit, frames are dropped until a keyframe (the rest depend on it). */
  private awaitKeyframe = false
  /** Frames dropped because they could not be parsed at all. */
  invalidPackets = 0
  /** Access units that outgrew the limits. */
  oversizedAccessUnits = 0
  /** Access units not emitted because of that: the oversized ones and those until the next keyframe. */
  droppedAccessUnits = 0

  constructor(
    private readonly format: PayloadFormat,
    private readonly timeline: Timeline,
    initialParameterSets: Buffer[] = [],
  ) {
    for (const ps of initialParameterSets) this.rememberParameterSet(ps)
  }

  /** The limits in force: from the stream's SPS once one is known. */
  get limits(): ReassemblyLimits {
    return this.reassembly
  }

  /** Bytes held for the access unit and NAL unit being reassembled (never above the limit). */
  get heldBytes(): number {
    return (this.current?.bytes ?? 0) + this.fu.bytes
  }

  private rememberParameterSet(nal: Buffer) {
    const rank = this.format.parameterSetRank(nal)
    const known = this.parameterSets.get(rank)
    if (known?.equals(nal)) return
    this.parameterSets.set(rank, Buffer.from(nal))
    const picture = videoFormat(this.format.codec, [nal])
    if (picture) {
      this.reassembly = reassemblyLimits(picture.width, picture.height)
      this.fu.maxBytes = this.reassembly.accessUnitBytes
    }
  }

  /** The latest parameter sets, in decoding order. */
  get parameters(): Buffer[] {
    return [...this.parameterSets.entries()].sort(([a], [b]) => a - b).map(([, v]) => v)
  }

  /** Feeds one RTP packet; returns the frames it completes. */
  push(packet: RtpPacket, nowMs: number): AccessUnit[] {
    const out: AccessUnit[] = []
    const lost = this.timeline.sequence(packet.sequence)
    if (lost > 0) {
      this.lossPending = true
      if (this.fu.header) this.fu.broken = true
    }
    const ts = this.timeline.unwrapTimestamp(packet.timestamp)
    if (this.discardTs !== undefined) {
      // The rest of an access unit that outgrew the limits: not even unpacked.
      if (ts === this.discardTs) return out
      this.discardTs = undefined
    }
    if (this.current && this.current.ts !== ts) {
      const done = this.finish(nowMs)
      if (done) out.push(done)
    }
    this.current ??= { ts, nalus: [], bytes: 0, damaged: this.lossPending }
    if (this.lossPending) {
      this.current.damaged = true
      this.lossPending = false
    }
    const nalus = this.format.unpack(packet.payload, this.fu)
    if (this.fu.overflow) {
      this.oversized(ts)
      return out
    }
    if (nalus === 'invalid') {
      this.invalidPackets++
      this.current.damaged = true
    } else {
      const c = this.current
      for (const n of nalus) {
        if (
          c.bytes + this.fu.bytes + n.length > this.reassembly.accessUnitBytes ||
          c.nalus.length >= this.reassembly.nalUnits
        ) {
          this.oversized(ts)
          return out
        }
        if (this.format.isParameterSet(n)) this.rememberParameterSet(n)
        // Reassembled units are fresh buffers already; whole ones are views of the packet.
        c.nalus.push(n.buffer === packet.payload.buffer ? copy(n) : n)
        c.bytes += n.length
      }
      if (c.bytes + this.fu.bytes > this.reassembly.accessUnitBytes) {
        this.oversized(ts)
        return out
      }
    }
    if (packet.marker) {
      const done = this.finish(nowMs)
      if (done) out.push(done)
    }
    return out
  }

  /** The access unit at `ts` outgrew the limits: drop it, skip its rest, wait for a keyframe. */
  private oversized(ts: number): void {
    this.oversizedAccessUnits++
    this.droppedAccessUnits++
    this.current = undefined
    resetFragment(this.fu)
    this.fu.overflow = false
    this.discardTs = ts
    this.awaitKeyframe = true
  }

  private finish(nowMs: number): AccessUnit | undefined {
    const c = this.current
    this.current = undefined
    if (this.fu.header) {
      // A fragment never ended: drop it.
      resetFragment(this.fu)
      if (c) c.damaged = true
    }
    if (!c || c.nalus.length === 0) {
      // Nothing survived: whatever follows depends on what was lost.
      if (c?.damaged) this.lossPending = true
      return undefined
    }
    const keyframe = c.nalus.some((n) => this.format.isKeyframeNal(n))
    if (this.awaitKeyframe) {
      if (!keyframe) {
        this.droppedAccessUnits++
        return undefined
      }
      this.awaitKeyframe = false
    }
    let nalus = c.nalus
    if (keyframe) {
      // Every keyframe carries its parameter sets, in-band or from the SDP, so any segment or
      // viewer can start on it.
      const present = new Set(
        nalus.filter((n) => this.format.isParameterSet(n)).map((n) => this.format.parameterSetRank(n)),
      )
      const missing = [...this.parameterSets.entries()]
        .filter(([rank]) => !present.has(rank))
        .sort(([a], [b]) => a - b)
      if (missing.length > 0) {
        // After the delimiter, if there is one: it must open the access unit (H.264 7.4.1.2.3).
        const at = nalus[0] && this.format.isDelimiter(nalus[0]) ? 1 : 0
        nalus = [...nalus.slice(0, at), ...missing.map(([, v]) => v), ...nalus.slice(at)]
      }
    }
    return {
      codec: this.format.codec,
      timestamp: c.ts,
      wallMs: this.timeline.wallClock(c.ts, nowMs),
      nalus,
      keyframe,
      damaged: c.damaged,
    }
  }
}

function resetFragment(fu: FragmentState): void {
  fu.header = undefined
  fu.parts = []
  fu.bytes = 0
  fu.broken = false
}

/**
 * Appends a fragment; returns the whole NAL unit when the end fragment arrives. A NAL unit that
 * would grow past `fu.maxBytes` is dropped and `fu.overflow` set.
 */
export function addFragment(
  fu: FragmentState,
  start: boolean,
  end: boolean,
  header: Buffer,
  data: Buffer,
): Buffer[] {
  if (start) {
    resetFragment(fu)
    fu.header = header
  } else if (!fu.header) {
    return [] // a middle or end without its start (lost): nothing to rebuild
  }
  if (fu.bytes + header.length + data.length > fu.maxBytes) {
    resetFragment(fu)
    fu.overflow = true
    return []
  }
  // A broken unit is not rebuilt: only its size is kept, to bound it all the same.
  if (!fu.broken) fu.parts.push(copy(data))
  fu.bytes += data.length
  if (!end) return []
  const whole = fu.broken ? undefined : Buffer.concat([fu.header as Buffer, ...fu.parts])
  resetFragment(fu)
  return whole ? [whole] : []
}
