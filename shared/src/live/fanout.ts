import { DEFAULT_GOP_LIMITS, GopCache, type GopCacheLimits, type LivePacket } from './gop-cache.ts'
import { DEFAULT_REORDER, ReorderBuffer, type ReorderOptions } from './reorder-buffer.ts'
import { type OutPacket, type ViewerState, ViewerTimeline } from './viewer-timeline.ts'

/**
 * One live stream to many viewers: the input (an agent's camera, or on the hub the one upstream
 * from that agent) arrives once, and each viewer gets its own rewritten copy. On the agent the
 * viewers are the hub's upstream connection and any direct browsers; on the hub they are the
 * browsers. It owns no sockets: a viewer's `send` is its WebRTC track.
 */
export interface FanoutInput extends LivePacket {
  /** Input RTP sequence number, when the input is RTP: a gap means loss. */
  sequenceNumber?: number
}

export interface ViewerStats {
  state: ViewerState
  sentPackets: number
  sentBytes: number
  sentFrames: number
  replays: number
  droppedWaiting: number
  pliReceived: number
}

export class FanoutViewer {
  readonly timeline: ViewerTimeline
  pliReceived = 0
  private lastReplayAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly fanout: LiveFanout,
    send: (packet: OutPacket) => void,
    private readonly now: () => number,
  ) {
    this.timeline = new ViewerTimeline(send)
  }

  /** The viewer's connection is up: begin on the cached GOP. */
  start(): void {
    this.timeline.start(this.fanout.gop())
    this.lastReplayAt = this.now()
  }

  /**
   * A PLI or FIR from the viewer. Replays are limited to one a second, and none while the last is
   * still going out (`replaying`: a paced replay of a long GOP takes longer): a decoder that keeps
   * asking while the replay is still arriving would otherwise get the GOP again and again.
   */
  pictureLoss(replaying = false): void {
    this.pliReceived++
    const now = this.now()
    if (replaying || now - this.lastReplayAt < 1000) return
    this.lastReplayAt = now
    this.timeline.resync(this.fanout.gop())
  }

  close(): void {
    this.timeline.close()
    this.fanout.remove(this)
  }

  get stats(): ViewerStats {
    const t = this.timeline
    return {
      state: t.state,
      sentPackets: t.sentPackets,
      sentBytes: t.sentBytes,
      sentFrames: t.sentFrames,
      replays: t.replays,
      droppedWaiting: t.droppedWaiting,
      pliReceived: this.pliReceived,
    }
  }
}

export class LiveFanout {
  private readonly cache: GopCache
  private readonly viewers = new Set<FanoutViewer>()
  private readonly reorder: ReorderBuffer<FanoutInput & { sequenceNumber: number }>
  receivedPackets = 0
  lostPackets = 0
  /** Called on input loss (a relay asks its sender to replay the GOP). */
  onInputLost: () => void = () => {}

  constructor(
    limits: GopCacheLimits = DEFAULT_GOP_LIMITS,
    private readonly now: () => number = () => performance.now(),
    reorder: ReorderOptions = DEFAULT_REORDER,
  ) {
    this.cache = new GopCache(limits)
    this.reorder = new ReorderBuffer<FanoutInput & { sequenceNumber: number }>(reorder)
  }

  /**
   * A packet of the input. RTP input (with sequence numbers) goes through a short reorder buffer
   * first, so a packet the network reordered or the sender retransmitted (NACK) is not a loss.
   */
  push(packet: FanoutInput): void {
    this.receivedPackets++
    if (packet.sequenceNumber === undefined) {
      this.deliver(packet)
      return
    }
    const { ready, lost } = this.reorder.push(packet as FanoutInput & { sequenceNumber: number }, this.now())
    if (lost > 0) this.inputLost(lost)
    for (const p of ready) this.deliver(p)
  }

  private deliver(packet: FanoutInput): void {
    const pushed = this.cache.push(packet)
    for (const v of this.viewers) v.timeline.packet(packet, pushed)
  }

  /** The input lost packets: nobody gets deltas until the next keyframe. */
  inputLost(count = 1): void {
    this.lostPackets += count
    this.cache.invalidate()
    for (const v of this.viewers) v.timeline.lost()
    this.onInputLost()
  }

  /** The input restarted (camera reconnected, upstream replaced): sequence numbering begins anew. */
  inputRestarted(): void {
    this.reorder.reset()
    this.cache.invalidate()
    for (const v of this.viewers) v.timeline.lost()
  }

  addViewer(send: (packet: OutPacket) => void): FanoutViewer {
    const v = new FanoutViewer(this, send, this.now)
    this.viewers.add(v)
    return v
  }

  remove(v: FanoutViewer): void {
    this.viewers.delete(v)
  }

  gop() {
    return this.cache.snapshot()
  }

  get viewerCount(): number {
    return this.viewers.size
  }

  get cacheStats() {
    return this.cache.stats
  }
}
