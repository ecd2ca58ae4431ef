/**
 * A stream's timeline: 32-bit RTP timestamps unwrapped to a monotonic 64-bit count, mapped to
 * wall-clock time, and 16-bit sequence numbers unwrapped to count losses and reorders.
 *
 * Wall-clock time is the agent's: the first frame is anchored to its arrival, later frames follow
 * RTP time from there. The camera's clock is only a hint: an RTCP sender report is taken as the
 * anchor (it aligns audio with video exactly) only when its NTP time is within
 * `senderReportToleranceMs` of the agent's clock; beyond that it is ignored and reported as drift.
 * A camera that once had its clock 20 years off put every segment "30 days old" at once.
 *
 * A frame whose RTP time puts it ahead of the agent's clock by more than that tolerance, or behind
 * it by more than `maxLagMs` (a jump in the camera's timestamps, a clock rate that lies), is
 * re-anchored to its arrival, as after a reconnect, and counted as a discontinuity. The recorder
 * sees it as media time that no longer follows wall time (`timestampJump`) and starts a new segment.
 */
export const CLOCK_BOUNDS = {
  /** A sender report's NTP time further than this from the agent's clock is ignored (drift). */
  senderReportToleranceMs: 2_000,
  /**
   * A frame later than this by its RTP time is a timestamp jump. Larger than the tolerance above:
   * a busy agent or a congested link delivers frames late, and that is not the camera's fault.
   */
  maxLagMs: 10_000,
}

/** What the timeline knows of the camera's clock, for camera health. */
export interface ClockStatus {
  /** The camera's NTP time minus the agent's, from its latest sender report (none yet: undefined). */
  cameraOffsetMs: number | undefined
  /** The camera's clock is beyond the bound: its sender reports are ignored. */
  drift: boolean
  /** Times RTP time jumped and the stream was re-anchored to the agent's clock. */
  discontinuities: number
}

/**
 * Media time against wall time between two consecutive frames of one stream: a jump if the
 * timestamps go back more than a second (more than any reordering), or move more than
 * `toleranceMs` apart from the frames' wall-clock times (the timeline re-anchored them). Within one
 * anchor both move together exactly, so a sender report taken within its bound never counts.
 */
export function timestampJump(
  prev: { timestamp: number; wallMs: number },
  next: { timestamp: number; wallMs: number },
  clockRate = 90_000,
  toleranceMs = CLOCK_BOUNDS.senderReportToleranceMs + 500,
): string | undefined {
  const mediaMs = ((next.timestamp - prev.timestamp) * 1000) / clockRate
  const wallMs = next.wallMs - prev.wallMs
  if (mediaMs < -1000) return `timestamps jumped back ${Math.round(-mediaMs)} ms`
  if (Math.abs(mediaMs - wallMs) > toleranceMs)
    return `timestamps jumped ${mediaMs > wallMs ? 'forward' : 'back'} ${Math.round(Math.abs(mediaMs - wallMs))} ms`
  return undefined
}

export class Timeline {
  private lastTs: number | undefined
  private wrapsTs = 0
  private anchor: { rtp: number; wallMs: number } | undefined
  private anchoredBySr = false
  private lastSeq: number | undefined
  private cameraOffsetMs: number | undefined
  private discontinuities = 0
  lost = 0
  reordered = 0
  received = 0

  constructor(
    readonly clockRate: number,
    /** The agent's clock (injectable for tests). */
    private readonly now: () => number = Date.now,
    private readonly bounds = CLOCK_BOUNDS,
  ) {}

  /** The unwrapped timestamp of a packet. */
  unwrapTimestamp(ts: number): number {
    if (this.lastTs !== undefined) {
      const diff = ts - this.lastTs
      if (diff < -0x80000000) this.wrapsTs++
      else if (diff > 0x80000000) this.wrapsTs-- // a late packet from before a wrap
    }
    this.lastTs = ts
    return this.wrapsTs * 0x100000000 + ts
  }

  /** Tracks the sequence number; returns the number of packets lost just before this one. */
  sequence(seq: number): number {
    this.received++
    if (this.lastSeq === undefined) {
      this.lastSeq = seq
      return 0
    }
    const delta = (seq - this.lastSeq + 0x10000) & 0xffff
    if (delta === 0 || delta >= 0x8000) {
      this.reordered++
      return 0
    }
    this.lastSeq = seq
    const missing = delta - 1
    this.lost += missing
    return missing
  }

  /**
   * An RTCP sender report: RTP time `rtp` (wrapped) was `ntpMs` on the camera's clock, received at
   * `nowMs` on the agent's. Taken as the anchor only within the bound; always measured.
   */
  senderReport(rtp: number, ntpMs: number, nowMs = this.now()): void {
    this.cameraOffsetMs = ntpMs - nowMs
    if (Math.abs(this.cameraOffsetMs) > this.bounds.senderReportToleranceMs) {
      // Ignored: the agent's anchor stays. A hint taken earlier is no longer vouched for either.
      this.anchoredBySr = false
      return
    }
    this.anchor = { rtp: this.unwrapNear(rtp), wallMs: ntpMs }
    this.anchoredBySr = true
  }

  private unwrapNear(ts: number): number {
    const base = this.wrapsTs * 0x100000000
    const candidates = [base - 0x100000000 + ts, base + ts, base + 0x100000000 + ts]
    const ref = this.lastTs !== undefined ? this.wrapsTs * 0x100000000 + this.lastTs : base + ts
    return candidates.reduce((a, b) => (Math.abs(b - ref) < Math.abs(a - ref) ? b : a))
  }

  /**
   * Wall-clock milliseconds of an unwrapped timestamp arriving at `nowMs` (agent clock). The first
   * call anchors to `nowMs`; so does a frame beyond the bounds (a discontinuity).
   */
  wallClock(unwrapped: number, nowMs = this.now()): number {
    if (this.anchor) {
      const wall = this.anchor.wallMs + ((unwrapped - this.anchor.rtp) * 1000) / this.clockRate
      if (wall - nowMs <= this.bounds.senderReportToleranceMs && nowMs - wall <= this.bounds.maxLagMs)
        return wall
      this.discontinuities++
      this.anchoredBySr = false
    }
    this.anchor = { rtp: unwrapped, wallMs: nowMs }
    return nowMs
  }

  get hasSenderReport(): boolean {
    return this.anchoredBySr
  }

  get status(): ClockStatus {
    const drift =
      this.cameraOffsetMs !== undefined && Math.abs(this.cameraOffsetMs) > this.bounds.senderReportToleranceMs
    return { cameraOffsetMs: this.cameraOffsetMs, drift, discontinuities: this.discontinuities }
  }
}
