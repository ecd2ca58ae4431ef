import type { RtpPacket } from '../rtp/rtp.ts'
import type { Timeline } from '../rtp/timeline.ts'
import type { AccessUnit } from './access-unit.ts'

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
  parts: Buffer[]
  header: Buffer | undefined
  broken: boolean
}

export class Depacketizer {
  private current: { ts: number; nalus: Buffer[]; damaged: boolean } | undefined
  private readonly fu: FragmentState = { parts: [], header: undefined, broken: false }
  private readonly parameterSets = new Map<number, Buffer>()
  private lossPending = false
  /** Frames dropped because they could not be parsed at all. */
  invalidPackets = 0

  constructor(
    private readonly format: PayloadFormat,
    private readonly timeline: Timeline,
    initialParameterSets: Buffer[] = [],
  ) {
    for (const ps of initialParameterSets) this.rememberParameterSet(ps)
  }

  private rememberParameterSet(nal: Buffer) {
    this.parameterSets.set(this.format.parameterSetRank(nal), Buffer.from(nal))
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
    if (this.current && this.current.ts !== ts) {
      const done = this.finish(nowMs)
      if (done) out.push(done)
    }
    this.current ??= { ts, nalus: [], damaged: this.lossPending }
    if (this.lossPending) {
      this.current.damaged = true
      this.lossPending = false
    }
    const nalus = this.format.unpack(packet.payload, this.fu)
    if (nalus === 'invalid') {
      this.invalidPackets++
      this.current.damaged = true
    } else {
      for (const n of nalus) {
        if (this.format.isParameterSet(n)) this.rememberParameterSet(n)
        this.current.nalus.push(n)
      }
    }
    if (packet.marker) {
      const done = this.finish(nowMs)
      if (done) out.push(done)
    }
    return out
  }

  private finish(nowMs: number): AccessUnit | undefined {
    const c = this.current
    this.current = undefined
    if (this.fu.header) {
      // A fragment never ended: drop it.
      this.fu.header = undefined
      this.fu.parts = []
      this.fu.broken = false
      if (c) c.damaged = true
    }
    if (!c || c.nalus.length === 0) {
      // Nothing survived: whatever follows depends on what was lost.
      if (c?.damaged) this.lossPending = true
      return undefined
    }
    const keyframe = c.nalus.some((n) => this.format.isKeyframeNal(n))
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

/** Appends a fragment; returns the whole NAL unit when the end fragment arrives. */
export function addFragment(
  fu: FragmentState,
  start: boolean,
  end: boolean,
  header: Buffer,
  data: Buffer,
): Buffer[] {
  if (start) {
    fu.header = header
    fu.parts = [data]
    fu.broken = false
  } else if (!fu.header) {
    return [] // a middle or end without its start (lost): nothing to rebuild
  } else {
    fu.parts.push(data)
  }
  if (!end) return []
  const whole = fu.broken ? undefined : Buffer.concat([fu.header, ...fu.parts])
  fu.header = undefined
  fu.parts = []
  fu.broken = false
  return whole ? [whole] : []
}
