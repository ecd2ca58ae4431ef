import type { AccessUnit, AudioFrame } from '../codec/access-unit.ts'
import type { StreamInfo } from '../rtsp/client.ts'

/**
 * One camera stream, many consumers (recorder, live view, analytics): the stream is opened once
 * and every access unit fans out to each consumer's own bounded queue. A slow consumer never
 * stalls the others: when its queue is full it loses frames, then waits for the next keyframe
 * (a decoder cannot resume on a P-frame), and every dropped frame is counted.
 */
export interface Consumer {
  readonly name: string
  /** A (new) stream began: codec and parameter sets. Called before its first frame. */
  start?(info: StreamInfo): void | Promise<void>
  frame(au: AccessUnit): void | Promise<void>
  /** Audio frames, for consumers that keep audio (in order with the video, as they arrived). */
  audio?(frame: AudioFrame): void | Promise<void>
  /** The stream ended (camera gone); a new `start` may follow. */
  stop?(reason: string): void | Promise<void>
}

type Item =
  | { kind: 'start'; info: StreamInfo }
  | { kind: 'frame'; au: AccessUnit }
  | { kind: 'audio'; frame: AudioFrame }
  | { kind: 'stop'; reason: string }

/** Bytes of media an item holds (what a queue bound must count: frames vary a thousandfold). */
function itemBytes(item: Item): number {
  if (item.kind === 'frame') return item.au.nalus.reduce((n, b) => n + b.length, 0)
  if (item.kind === 'audio') return item.frame.data.length
  return 0
}

/**
 * Default bound of a consumer's queue in bytes: twice the largest access unit the depacketizer
 * lets through (`MAX_ACCESS_UNIT_BYTES`), so any one frame always fits an empty queue.
 */
export const DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024

export class Subscription {
  private readonly queue: Item[] = []
  private running = false
  private waitForKeyframe = true
  /** Bytes of media in the queue (never above the byte limit). */
  queuedBytes = 0
  dropped = 0
  droppedAudio = 0
  delivered = 0
  closed = false

  constructor(
    readonly consumer: Consumer,
    private readonly limit: number,
    private readonly onError: (consumer: string, err: unknown) => void,
    private readonly limitBytes = DEFAULT_QUEUE_BYTES,
  ) {}

  push(item: Item): void {
    if (this.closed) return
    if (item.kind === 'audio') {
      // Audio follows the video: none while waiting for a keyframe, and little beyond a full queue.
      if (!this.consumer.audio || this.waitForKeyframe) return
      if (this.queue.length >= this.limit * 4 || this.queuedBytes + itemBytes(item) > this.limitBytes) {
        this.droppedAudio++
        return
      }
    } else if (item.kind === 'frame') {
      if (this.waitForKeyframe && !item.au.keyframe) {
        this.dropped++
        return
      }
      this.waitForKeyframe = false
      const frames = this.queue.reduce((n, i) => n + (i.kind === 'frame' ? 1 : 0), 0)
      if (frames >= this.limit || this.queuedBytes + itemBytes(item) > this.limitBytes) {
        // Too far behind: drop the queued frames and this one, resume at the next keyframe.
        for (let i = this.queue.length - 1; i >= 0; i--) {
          const kind = this.queue[i]?.kind
          if (kind === 'frame') this.dropped++
          else if (kind === 'audio') this.droppedAudio++
          if (kind === 'frame' || kind === 'audio') {
            this.queuedBytes -= itemBytes(this.queue[i] as Item)
            this.queue.splice(i, 1)
          }
        }
        this.dropped++
        this.waitForKeyframe = true
        return
      }
    } else {
      this.waitForKeyframe = true
    }
    this.queue.push(item)
    this.queuedBytes += itemBytes(item)
    if (!this.running) void this.drain()
  }

  /**
   * Hands over a cached group of pictures (keyframe first) outside the frame bound: a GOP is
   * longer than a live consumer's queue on many cameras, and it drains before the next frame
   * arrives. The byte bound still holds.
   */
  replay(frames: readonly AccessUnit[]): void {
    if (this.closed || frames.length === 0 || !this.waitForKeyframe) return
    const bytes = frames.reduce((n, au) => n + itemBytes({ kind: 'frame', au }), 0)
    if (this.queuedBytes + bytes > this.limitBytes) return
    this.waitForKeyframe = false
    for (const au of frames) this.queue.push({ kind: 'frame', au })
    this.queuedBytes += bytes
    if (!this.running) void this.drain()
  }

  private async drain(): Promise<void> {
    this.running = true
    while (this.queue.length > 0 && !this.closed) {
      const item = this.queue.shift() as Item
      this.queuedBytes -= itemBytes(item)
      try {
        if (item.kind === 'start') await this.consumer.start?.(item.info)
        else if (item.kind === 'frame') {
          await this.consumer.frame(item.au)
          this.delivered++
        } else if (item.kind === 'audio') await this.consumer.audio?.(item.frame)
        else await this.consumer.stop?.(item.reason)
      } catch (err) {
        this.onError(this.consumer.name, err)
      }
    }
    this.running = false
  }

  /** Resolves when the queue is empty (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Bounds of the group of pictures kept for consumers that start at the last keyframe: beyond
 * either (a camera with a very long GOP) nothing is replayed and they wait for the next one.
 */
export const GOP_CACHE_MAX_FRAMES = 600
export const GOP_CACHE_MAX_BYTES = 16 * 1024 * 1024

export interface SubscribeOptions {
  /** Frames the consumer's queue holds before it drops to the next keyframe (default 120). */
  queueFrames?: number
  queueBytes?: number
  /**
   * Start at the stream's last keyframe: the frames since it are handed over at once, so a live
   * viewer sees a picture now instead of after up to a GOP (a second or more on most cameras).
   */
  fromLastKeyframe?: boolean
}

export class Producer {
  private readonly subscriptions = new Set<Subscription>()
  private info: StreamInfo | undefined
  /** The current group of pictures: a keyframe and the frames after it (empty: none usable). */
  private gop: AccessUnit[] = []
  private gopBytes = 0

  constructor(private readonly onError: (consumer: string, err: unknown) => void = () => {}) {}

  subscribe(consumer: Consumer, options: SubscribeOptions = {}): Subscription {
    const sub = new Subscription(
      consumer,
      options.queueFrames ?? 120,
      this.onError,
      options.queueBytes ?? DEFAULT_QUEUE_BYTES,
    )
    this.subscriptions.add(sub)
    if (this.info) {
      sub.push({ kind: 'start', info: this.info })
      if (options.fromLastKeyframe) sub.replay(this.gop)
    }
    return sub
  }

  /** Frames a consumer starting at the last keyframe would get now (for health and tests). */
  get cachedFrames(): number {
    return this.gop.length
  }

  unsubscribe(sub: Subscription): void {
    sub.closed = true
    this.subscriptions.delete(sub)
  }

  get consumers(): Subscription[] {
    return [...this.subscriptions]
  }

  started(info: StreamInfo): void {
    this.info = info
    this.forgetGop()
    for (const s of this.subscriptions) s.push({ kind: 'start', info })
  }

  frame(au: AccessUnit): void {
    this.keep(au)
    for (const s of this.subscriptions) s.push({ kind: 'frame', au })
  }

  private keep(au: AccessUnit): void {
    if (au.keyframe && !au.damaged) this.forgetGop()
    else if (this.gop.length === 0) return
    const bytes = itemBytes({ kind: 'frame', au })
    if (
      au.damaged ||
      this.gop.length >= GOP_CACHE_MAX_FRAMES ||
      this.gopBytes + bytes > GOP_CACHE_MAX_BYTES
    ) {
      // What follows may not decode from the cached keyframe: nothing to replay until the next one.
      this.forgetGop()
      return
    }
    this.gop.push(au)
    this.gopBytes += bytes
  }

  private forgetGop(): void {
    this.gop = []
    this.gopBytes = 0
  }

  audio(frame: AudioFrame): void {
    for (const s of this.subscriptions) s.push({ kind: 'audio', frame })
  }

  stopped(reason: string): void {
    this.info = undefined
    this.forgetGop()
    for (const s of this.subscriptions) s.push({ kind: 'stop', reason })
  }
}
