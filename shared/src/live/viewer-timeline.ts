import type { CachedFrame, LivePacket, PushResult } from './gop-cache.ts'

/**
 * One viewer's view of a live stream: its own RTP sequence numbers and timestamps, so the
 * browser sees one continuous stream however it joined. A viewer starts on the cached GOP: those
 * frames go out at once with timestamps squeezed a millisecond apart (the decoder needs them all,
 * but the player should not wait a GOP's duration to show the newest), and the live frames that
 * follow keep the camera's spacing from there. A PLI replays the cache the same way, moving the
 * timestamps forward only. Nothing is sent before `start()` (the connection is up).
 */
export interface OutPacket {
  payload: Buffer
  marker: boolean
  sequenceNumber: number
  timestamp: number
}

/** 1 ms at 90 kHz: the spacing of replayed frames. */
const REPLAY_STEP = 90
const u32 = (n: number) => n >>> 0

export type ViewerState = 'idle' | 'waiting-keyframe' | 'live' | 'closed'

export class ViewerTimeline {
  state: ViewerState = 'idle'
  private seq: number
  private offset = 0
  private lastOut: number
  sentPackets = 0
  sentBytes = 0
  sentFrames = 0
  replays = 0
  droppedWaiting = 0

  constructor(
    private readonly send: (packet: OutPacket) => void,
    random: () => number = Math.random,
  ) {
    this.seq = Math.floor(random() * 0x10000)
    this.lastOut = Math.floor(random() * 0x100000000)
  }

  /** The connection is up: replay the cached GOP, or wait for the next keyframe if there is none. */
  start(gop: readonly CachedFrame[]): void {
    if (this.state !== 'idle') return
    this.replay(gop)
  }

  /** The decoder lost its place (PLI/FIR): give it the cached GOP again. */
  resync(gop: readonly CachedFrame[]): void {
    if (this.state === 'idle' || this.state === 'closed') return
    this.replays++
    this.replay(gop)
  }

  private replay(gop: readonly CachedFrame[]): void {
    if (gop.length === 0 || !gop[0]?.keyframe) {
      this.state = 'waiting-keyframe'
      return
    }
    let out = u32(this.lastOut + REPLAY_STEP)
    for (const frame of gop) {
      this.offset = u32(out - frame.timestamp)
      for (const p of frame.packets) this.emit(p)
      this.sentFrames++
      out = u32(out + REPLAY_STEP)
    }
    this.state = 'live'
  }

  /** A live packet, with what the cache made of it. */
  packet(packet: LivePacket, { frame, newFrame, becameKeyframe }: PushResult): void {
    if (this.state === 'waiting-keyframe') {
      if (!becameKeyframe) {
        this.droppedWaiting++
        return
      }
      // Start at this keyframe (with the packets of its frame so far), moving timestamps forward.
      this.offset = u32(this.lastOut + REPLAY_STEP - packet.timestamp)
      this.state = 'live'
      for (const p of frame.packets) this.emit(p)
      this.sentFrames++
      return
    }
    if (this.state !== 'live') return
    if (newFrame) this.sentFrames++
    this.emit(packet)
  }

  private emit(p: LivePacket): void {
    const timestamp = u32(p.timestamp + this.offset)
    this.lastOut = timestamp
    this.seq = (this.seq + 1) & 0xffff
    this.sentPackets++
    this.sentBytes += p.payload.length
    this.send({ payload: p.payload, marker: p.marker, sequenceNumber: this.seq, timestamp })
  }

  /** Input was lost: deltas would not decode, so wait for the next keyframe. */
  lost(): void {
    if (this.state === 'live') this.state = 'waiting-keyframe'
  }

  close(): void {
    this.state = 'closed'
  }
}
