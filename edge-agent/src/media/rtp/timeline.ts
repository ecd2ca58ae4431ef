/**
 * A stream's timeline: 32-bit RTP timestamps unwrapped to a monotonic 64-bit count, mapped to
 * wall-clock time by the latest RTCP sender report (or, before one arrives, by the arrival time of
 * the first packet), and 16-bit sequence numbers unwrapped to count losses and reorders.
 */
export class Timeline {
  private lastTs: number | undefined
  private wrapsTs = 0
  private anchor: { rtp: number; wallMs: number } | undefined
  private anchoredBySr = false
  private lastSeq: number | undefined
  lost = 0
  reordered = 0
  received = 0

  constructor(readonly clockRate: number) {}

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

  /** An RTCP sender report: RTP time `rtp` (wrapped) was wall-clock `wallMs`. */
  senderReport(rtp: number, wallMs: number): void {
    this.anchor = { rtp: this.unwrapNear(rtp), wallMs }
    this.anchoredBySr = true
  }

  private unwrapNear(ts: number): number {
    const base = this.wrapsTs * 0x100000000
    const candidates = [base - 0x100000000 + ts, base + ts, base + 0x100000000 + ts]
    const ref = this.lastTs !== undefined ? this.wrapsTs * 0x100000000 + this.lastTs : base + ts
    return candidates.reduce((a, b) => (Math.abs(b - ref) < Math.abs(a - ref) ? b : a))
  }

  /** Wall-clock milliseconds of an unwrapped timestamp; the first call anchors to `nowMs`. */
  wallClock(unwrapped: number, nowMs: number): number {
    this.anchor ??= { rtp: unwrapped, wallMs: nowMs }
    return this.anchor.wallMs + ((unwrapped - this.anchor.rtp) * 1000) / this.clockRate
  }

  get hasSenderReport(): boolean {
    return this.anchoredBySr
  }
}
