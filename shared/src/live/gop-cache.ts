import { h264PayloadStartsKeyframe } from './h264-rtp.ts'

/**
 * The current group of pictures of a live stream, from its last keyframe: what a new viewer (or
 * one whose decoder lost its place and sent a PLI) is given first, because a camera cannot be
 * asked for a keyframe. Packets are grouped into frames by RTP timestamp.
 *
 * The cache is invalid (empty) until a keyframe arrives, after input loss (a frame it holds may
 * not decode) and when a GOP grows beyond the limits (a camera with a very long GOP would
 * otherwise pin memory); it recovers at the next keyframe.
 */
export interface LivePacket {
  payload: Buffer
  /** RTP timestamp (90 kHz, 32-bit) of the frame the packet belongs to. */
  timestamp: number
  /** Set on a frame's last packet. */
  marker: boolean
}

export interface CachedFrame {
  timestamp: number
  keyframe: boolean
  packets: LivePacket[]
  bytes: number
}

export interface GopCacheLimits {
  maxFrames: number
  maxBytes: number
}

export const DEFAULT_GOP_LIMITS: GopCacheLimits = { maxFrames: 900, maxBytes: 24 * 1024 * 1024 }

export interface PushResult {
  frame: CachedFrame
  /** The packet started a frame. */
  newFrame: boolean
  /** The packet made its frame a keyframe (earlier packets of the frame, e.g. an SEI, may precede it). */
  becameKeyframe: boolean
}

export class GopCache {
  private frames: CachedFrame[] = []
  private current: CachedFrame | undefined
  private bytes = 0
  private valid = false

  constructor(private readonly limits: GopCacheLimits = DEFAULT_GOP_LIMITS) {}

  /**
   * Adds a packet; returns the frame it belongs to and whether it started that frame. A frame
   * becomes a keyframe (and restarts the cache) as soon as one of its packets shows an SPS or IDR.
   */
  push(packet: LivePacket): PushResult {
    let newFrame = false
    let becameKeyframe = false
    if (!this.current || this.current.timestamp !== packet.timestamp) {
      this.current = { timestamp: packet.timestamp, keyframe: false, packets: [], bytes: 0 }
      newFrame = true
      if (this.valid) this.frames.push(this.current)
    }
    const frame = this.current
    frame.packets.push(packet)
    frame.bytes += packet.payload.length
    if (!frame.keyframe && h264PayloadStartsKeyframe(packet.payload)) {
      frame.keyframe = true
      becameKeyframe = true
      this.frames = [frame]
      this.bytes = frame.bytes
      this.valid = true
    } else if (this.valid) {
      this.bytes += packet.payload.length
      if (this.frames.length > this.limits.maxFrames || this.bytes > this.limits.maxBytes) this.invalidate()
    }
    return { frame, newFrame, becameKeyframe }
  }

  /** Input was lost: what is cached may not decode. Valid again from the next keyframe. */
  invalidate(): void {
    this.frames = []
    this.bytes = 0
    this.valid = false
  }

  /** The frames from the last keyframe (the last may still be incomplete), or [] when invalid. */
  snapshot(): CachedFrame[] {
    return this.valid ? [...this.frames] : []
  }

  get stats(): { frames: number; bytes: number; valid: boolean } {
    return { frames: this.frames.length, bytes: this.bytes, valid: this.valid }
  }
}
