import { cleanText } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { AccessUnit } from '../codec/access-unit.ts'
import { RtspClient, type RtspClientOptions, type StreamInfo } from '../rtsp/client.ts'
import { redactUrl } from '../rtsp/url.ts'
import { Backoff } from './backoff.ts'
import { Producer } from './producer.ts'

/**
 * One camera stream kept alive: a small state machine around an RTSP session.
 *
 *   idle -> connecting -> streaming -> (error) -> backoff -> connecting -> ...
 *
 * Failures of any kind (refused, wrong password, drop, stall) lead to a reconnect after an
 * exponentially growing, jittered, capped delay; a session that streamed resets the delay.
 * Frames go to the stream's Producer, which fans them out to the consumers.
 */
export type StreamState = 'idle' | 'connecting' | 'streaming' | 'backoff' | 'stopped'

export interface StreamStats {
  state: StreamState
  /** The last error, without credentials. */
  error?: string
  codec?: 'h264' | 'h265'
  audio?: 'aac'
  bitrateBps: number
  fps: number
  lostPackets: number
  /**
   * Frames that outgrew the reassembly limits (a camera sending a frame without end, or absurdly
   * large ones), and frames dropped for it: those and the ones after, up to the next keyframe.
   */
  oversizedFrames: number
  droppedFrames: number
  reconnects: number
  since: number
}

export class CameraStream {
  readonly producer: Producer
  private client: RtspClient | undefined
  private state: StreamState = 'idle'
  private error: string | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly backoff: Backoff
  private reconnects = 0
  private since = Date.now()
  private lost = 0
  /** Counters of the sessions that ended (the current one's are read from its client). */
  private oversized = 0
  private dropped = 0
  private lastOversized = 0
  private window: { at: number; bytes: number; frames: number }[] = []
  private lastSample = { bytes: 0, frames: 0 }
  private sampler: NodeJS.Timeout | undefined
  info: StreamInfo | undefined
  /** Called on every state change (for health and camera.online/offline events). */
  onState: (state: StreamState, error?: string) => void = () => {}

  constructor(
    readonly id: string,
    private readonly options: RtspClientOptions,
    private readonly logger: Logger,
    backoff: { initialMs?: number; maxMs?: number } = {},
  ) {
    this.producer = new Producer((consumer, err) =>
      this.logger.warn({ err, consumer, stream: id }, 'a consumer failed on a frame'),
    )
    this.backoff = new Backoff(backoff.initialMs ?? 1000, backoff.maxMs ?? 30_000)
  }

  start(): void {
    if (this.state !== 'idle' && this.state !== 'stopped') return
    this.sampler = setInterval(() => this.sample(), 1000)
    this.sampler.unref()
    this.connect()
  }

  private setState(state: StreamState, error?: string) {
    this.state = state
    this.error = error
    this.since = Date.now()
    this.onState(state, error)
  }

  private connect(): void {
    this.setState('connecting')
    const client = new RtspClient(this.options)
    this.client = client
    this.lastSample = { bytes: 0, frames: 0 }
    client.on('frame', (au: AccessUnit) => this.producer.frame(au))
    client.on('audio', (frame) => this.producer.audio(frame))
    client.once('close', (err) => {
      this.lost += client.lost
      this.oversized += client.oversizedAccessUnits
      this.dropped += client.droppedAccessUnits
      if (this.client !== client) return
      this.client = undefined
      if (this.state === 'stopped') return
      const wasStreaming = this.state === 'streaming'
      if (wasStreaming) this.producer.stopped(err?.message ?? 'stream ended')
      this.scheduleReconnect(err?.message ?? 'stream ended')
    })
    client.connect().then(
      (info) => {
        if (this.client !== client || this.state === 'stopped') return
        this.info = info
        this.backoff.reset()
        this.producer.started(info)
        this.setState('streaming')
        this.logger.info(
          { stream: this.id, codec: info.codec, transport: info.transport },
          'camera streaming',
        )
      },
      () => {
        // The client closes itself on failure; its close handler schedules the retry.
      },
    )
  }

  private scheduleReconnect(raw: string): void {
    // Errors carry text from the camera; RtspError bounds it, anything else is bounded here.
    const reason = cleanText(raw, { maxLength: 500 })
    const delay = this.backoff.next()
    this.reconnects++
    this.setState('backoff', reason)
    this.logger.warn(
      { stream: this.id, url: redactUrl(this.options.url), reason, retryInMs: delay },
      'camera stream lost',
    )
    this.timer = setTimeout(() => this.connect(), delay)
    this.timer.unref()
  }

  private sample(): void {
    const c = this.client
    if (!c) {
      this.window = []
      return
    }
    const oversized = this.oversized + c.oversizedAccessUnits
    if (oversized > this.lastOversized) {
      this.logger.warn(
        { stream: this.id, oversizedFrames: oversized, droppedFrames: this.dropped + c.droppedAccessUnits },
        'the camera sent frames past the reassembly limit: dropped to the next keyframe',
      )
      this.lastOversized = oversized
    }
    const now = Date.now()
    this.window.push({
      at: now,
      bytes: c.bytes - this.lastSample.bytes,
      frames: c.frames - this.lastSample.frames,
    })
    this.lastSample = { bytes: c.bytes, frames: c.frames }
    this.window = this.window.filter((w) => now - w.at < 5000)
  }

  stats(): StreamStats {
    const seconds = Math.max(1, this.window.length)
    const bytes = this.window.reduce((n, w) => n + w.bytes, 0)
    const frames = this.window.reduce((n, w) => n + w.frames, 0)
    return {
      state: this.state,
      ...(this.error ? { error: this.error } : {}),
      ...(this.info ? { codec: this.info.codec } : {}),
      ...(this.info?.audio ? { audio: this.info.audio.codec } : {}),
      bitrateBps: Math.round((bytes * 8) / seconds),
      fps: Math.round((frames / seconds) * 10) / 10,
      lostPackets: this.lost + (this.client?.lost ?? 0),
      oversizedFrames: this.oversized + (this.client?.oversizedAccessUnits ?? 0),
      droppedFrames: this.dropped + (this.client?.droppedAccessUnits ?? 0),
      reconnects: this.reconnects,
      since: this.since,
    }
  }

  async stop(): Promise<void> {
    this.setState('stopped')
    if (this.timer) clearTimeout(this.timer)
    if (this.sampler) clearInterval(this.sampler)
    const c = this.client
    this.client = undefined
    if (c) await c.close()
    this.producer.stopped('stopped')
  }
}
