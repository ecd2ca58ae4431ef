import { createHash } from 'node:crypto'
import {
  type AgentCamera,
  type AgentCameraStream,
  type CameraHealth,
  cameraPasswordContext,
  cleanText,
  SecretBox,
  type StreamRole,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import { CameraStream, type StreamState } from '../media/core/camera-stream.ts'
import type { Subscription } from '../media/core/producer.ts'
import { Recorder } from '../recorder/recorder.ts'
import type { RecordingIndex } from '../recorder/recording-index.ts'
import { enforceRetention } from '../recorder/retention.ts'

/**
 * The agent's cameras: from the desired configuration to running pipelines. For each camera that
 * records, one RTSP session on its recording stream (main, or sub if that is all it has) feeding
 * the recorder; later consumers (live view, analytics) subscribe to the same producer instead of
 * opening a second session. `apply()` reconciles: unchanged pipelines keep running, changed ones
 * restart, removed ones stop (their recordings stay until retention takes them).
 *
 * It reports state for health and raises `camera.offline` / `camera.online` on transitions and
 * `recording.gap` when a stream comes back after a hole.
 */
export interface CameraEvent {
  type: 'camera.offline' | 'camera.online' | 'recording.gap'
  cameraId: string
  data: Record<string, unknown>
}

export interface CameraManagerOptions {
  index: RecordingIndex
  recordingsDir: string
  /** The agent's configuration key (base64), which opens the camera passwords. */
  configKey: string | undefined
  segmentSeconds: number
  quotaBytes: number | undefined
  minFreeBytes: number
  retentionIntervalSeconds: number
  reconnectMaxMs: number
  cameraTimeoutMs: number
  logger: Logger
  emit: (event: CameraEvent) => void
  /** How long an on-demand stream (live view of a camera that does not record) stays open unused. */
  onDemandLingerMs?: number
  /**
   * `always` (default): every stream of every camera stays open, so live view starts at once from
   * the stream's last keyframe, as a VMS's "live: always" setting does; `on-demand`: streams the
   * recorder does not use open when someone watches (less camera and network load, a slower start).
   */
  liveStreams?: 'always' | 'on-demand'
}

/** A stream opened for consumers other than the recorder, while they need it. */
interface OnDemand {
  key: string
  cameraId: string
  fingerprint: string
  source: CameraStream
  refs: number
  linger: NodeJS.Timeout | undefined
}

/** A running stream lent to a consumer; `release()` when done (exactly once). */
export interface StreamLease {
  source: CameraStream
  role: StreamRole
  release(): void
}

export class StreamUnavailable extends Error {
  override name = 'StreamUnavailable'
  constructor(
    readonly code: 'camera_unknown' | 'stream_unknown' | 'camera_credentials',
    message: string,
  ) {
    super(message)
  }

  /** As an answer to the hub: no such camera or stream is 404; its password unreadable here, 503. */
  get status(): 404 | 503 {
    return this.code === 'camera_credentials' ? 503 : 404
  }
}

interface Pipeline {
  key: string
  camera: AgentCamera
  stream: AgentCameraStream
  /** What the pipeline was built from: a different fingerprint means restart. */
  fingerprint: string
  source: CameraStream | undefined
  recorder: Recorder | undefined
  subscription: Subscription | undefined
  /** Why it cannot run at all (e.g. a password that does not open). */
  error: string | undefined
  /** Whether the camera was reported online (undefined: not yet known). */
  online: boolean | undefined
}

/**
 * Text that came from a camera (an error carrying its status line, a header, a reason) as it may
 * go into an event or the heartbeat: control characters out, at most `ERROR_TEXT_MAX` characters.
 * The RTSP client bounds it too; this is where the agent turns it into records, so it holds here
 * whatever the source (one camera's 60,000 control characters once blocked the whole outbox).
 */
export const ERROR_TEXT_MAX = 500
export const cameraText = (text: string | undefined, fallback = 'unknown'): string =>
  (text === undefined ? '' : cleanText(text, { maxLength: ERROR_TEXT_MAX }).trim()) || fallback

/** The stream a camera is recorded from. */
export const recordingStream = (c: AgentCamera): AgentCameraStream | undefined =>
  c.streams.find((s) => s.role === 'main') ?? c.streams[0]

export class CameraManager {
  private readonly pipelines = new Map<string, Pipeline>()
  private readonly onDemand = new Map<string, OnDemand>()
  /** Leases held on every non-recording stream in `always` mode, by `cameraId/role`. */
  private readonly keptOpen = new Map<string, StreamLease>()
  private cameras: AgentCamera[] = []
  /**
   * Whether each camera without a recording pipeline was last reported online, from health probes
   * (a pipeline keeps its own `online`); handed over when a pipeline starts or stops, so a camera
   * is reported offline once until it is back, whichever of the two saw it go.
   */
  private readonly probedOnline = new Map<string, boolean>()
  private retentionTimer: NodeJS.Timeout | undefined
  private readonly box: SecretBox | undefined
  private stopped = false
  /** The recordings' disk quota in force (the setup wizard may change it while running). */
  private quotaBytes: number | undefined
  /** Per camera: when retention last removed its recordings for space rather than age (agent clock). */
  private readonly evictedForSpace = new Map<string, number>()

  constructor(private readonly o: CameraManagerOptions) {
    this.quotaBytes = o.quotaBytes
    this.box = o.configKey ? new SecretBox(Buffer.from(o.configKey, 'base64')) : undefined
    this.retentionTimer = setInterval(() => this.retention(), o.retentionIntervalSeconds * 1000)
    this.retentionTimer.unref()
  }

  /** Brings the running pipelines in line with the configuration's cameras. */
  async apply(cameras: readonly AgentCamera[]): Promise<void> {
    if (this.stopped) return
    this.cameras = [...cameras]
    const wanted = new Map<string, { camera: AgentCamera; stream: AgentCameraStream; fingerprint: string }>()
    for (const camera of cameras) {
      const stream = recordingStream(camera)
      if (!camera.recording.enabled || !stream) continue
      wanted.set(camera.id, {
        camera,
        stream,
        fingerprint: JSON.stringify([this.streamFingerprint(camera, stream), camera.recording.enabled]),
      })
    }
    for (const [key, p] of this.pipelines) {
      const w = wanted.get(key)
      if (!w || w.fingerprint !== p.fingerprint) {
        await this.stopPipeline(p, w ? 'camera settings changed' : 'camera removed from this agent')
        this.pipelines.delete(key)
        if (!w && p.online !== undefined) this.probedOnline.set(key, p.online)
      } else {
        p.camera = w.camera // name or retention changed: nothing to restart
      }
    }
    for (const [key, w] of wanted) if (!this.pipelines.has(key)) this.startPipeline(key, w)
    for (const id of this.probedOnline.keys())
      if (this.pipelines.has(id) || !this.camera(id)) this.probedOnline.delete(id)
    for (const d of [...this.onDemand.values()]) {
      const camera = this.cameras.find((c) => c.id === d.cameraId)
      const stream = camera?.streams.find((s) => `${camera.id}/${s.role}` === d.key)
      if (!camera || !stream || this.streamFingerprint(camera, stream) !== d.fingerprint) {
        this.onDemand.delete(d.key)
        clearTimeout(d.linger)
        await d.source.stop()
      }
    }
    this.keepStreamsOpen()
  }

  /**
   * In `always` mode, holds a lease on each stream the recorder does not run; leases on streams
   * that were removed or reconnected with new settings are let go (and taken again when current).
   */
  private keepStreamsOpen(): void {
    const wanted = new Map<string, { cameraId: string; role: StreamRole }>()
    if ((this.o.liveStreams ?? 'always') === 'always') {
      for (const camera of this.cameras)
        for (const stream of camera.streams) {
          const p = this.pipelines.get(camera.id)
          if (p?.source && p.stream.role === stream.role) continue
          wanted.set(`${camera.id}/${stream.role}`, { cameraId: camera.id, role: stream.role })
        }
    }
    for (const [key, lease] of this.keptOpen) {
      const w = wanted.get(key)
      if (w && this.isCurrent(lease, w.cameraId)) continue
      this.keptOpen.delete(key)
      lease.release()
    }
    for (const [key, { cameraId, role }] of wanted) {
      if (this.keptOpen.has(key)) continue
      try {
        this.keptOpen.set(key, this.acquireStream(cameraId, role))
      } catch (err) {
        // A password this agent cannot open: the stream stays closed; live view says why.
        this.o.logger.warn({ stream: key, err: (err as Error).message }, 'cannot keep a camera stream open')
      }
    }
  }

  /** What a stream connects with: a different fingerprint means reconnect. */
  private streamFingerprint(camera: AgentCamera, stream: AgentCameraStream): string {
    // The sealed password changes with every publication (fresh nonce): compare what it opens to.
    const { passwordSealed: _sealed, ...visible } = stream
    const secret = this.password(camera, stream)
    const opened = createHash('sha256')
      .update(secret.password ?? secret.error ?? '')
      .digest('hex')
    return JSON.stringify([visible, opened])
  }

  /** The camera as configured on this agent. */
  camera(id: string): AgentCamera | undefined {
    return this.cameras.find((c) => c.id === id)
  }

  /**
   * Lends a camera stream to a consumer (live view): the recording pipeline's own session when it
   * runs that stream — never a second connection to the camera — or else a session opened on
   * demand, shared by every borrower and closed a little after the last one releases it.
   */
  acquireStream(cameraId: string, role: StreamRole): StreamLease {
    const camera = this.camera(cameraId)
    if (!camera) throw new StreamUnavailable('camera_unknown', 'this agent has no such camera')
    const stream = camera.streams.find((s) => s.role === role)
    if (!stream) throw new StreamUnavailable('stream_unknown', `the camera has no ${role} stream`)
    const p = this.pipelines.get(cameraId)
    if (p?.source && p.stream.role === role) {
      const source = p.source
      return { source, role, release: () => {} }
    }
    const key = `${cameraId}/${role}`
    let d = this.onDemand.get(key)
    if (!d) {
      const secret = this.password(camera, stream)
      if (secret.error) throw new StreamUnavailable('camera_credentials', secret.error)
      const source = this.cameraStream(`${key}(on demand)`, stream, secret.password)
      d = {
        key,
        cameraId,
        fingerprint: this.streamFingerprint(camera, stream),
        source,
        refs: 0,
        linger: undefined,
      }
      this.onDemand.set(key, d)
      source.start()
    }
    const entry = d
    clearTimeout(entry.linger)
    entry.refs++
    let released = false
    return {
      source: entry.source,
      role,
      release: () => {
        if (released) return
        released = true
        entry.refs--
        if (entry.refs > 0 || this.onDemand.get(key) !== entry) return
        entry.linger = setTimeout(() => {
          if (entry.refs > 0 || this.onDemand.get(key) !== entry) return
          this.onDemand.delete(key)
          void entry.source.stop()
        }, this.o.onDemandLingerMs ?? 10_000)
        entry.linger.unref()
      },
    }
  }

  /** Whether a lease still holds the stream the configuration runs (settings may have changed it). */
  isCurrent(lease: StreamLease, cameraId: string): boolean {
    const p = this.pipelines.get(cameraId)
    if (p?.source === lease.source) return true
    return this.onDemand.get(`${cameraId}/${lease.role}`)?.source === lease.source
  }

  /** Streams open on demand (not for recording), for health and tests. */
  get onDemandStreams(): string[] {
    return [...this.onDemand.keys()]
  }

  /** Streams held open in `always` mode (a subset of `onDemandStreams`). */
  get keptOpenStreams(): string[] {
    return [...this.keptOpen.keys()]
  }

  private password(camera: AgentCamera, stream: AgentCameraStream): { password?: string; error?: string } {
    if (!stream.passwordSealed) return {}
    if (!this.box)
      return { error: 'this agent has no configuration key for camera passwords: enroll it again' }
    try {
      return {
        password: this.box
          .open(stream.passwordSealed, cameraPasswordContext(camera.id, stream.role))
          .toString('utf8'),
      }
    } catch {
      return { error: 'the camera password does not open with this agent key: enroll the agent again' }
    }
  }

  /** A session to one of a camera's streams, with the agent's timeouts and backoff. */
  private cameraStream(name: string, stream: AgentCameraStream, password: string | undefined): CameraStream {
    return new CameraStream(
      name,
      {
        url: stream.url,
        ...(stream.username ? { username: stream.username } : {}),
        ...(password !== undefined ? { password } : {}),
        transport: stream.transport,
        dataTimeoutMs: this.o.cameraTimeoutMs,
      },
      this.o.logger,
      { maxMs: this.o.reconnectMaxMs },
    )
  }

  private startPipeline(
    key: string,
    w: { camera: AgentCamera; stream: AgentCameraStream; fingerprint: string },
  ) {
    const { camera, stream } = w
    const pipeline: Pipeline = {
      key,
      camera,
      stream,
      fingerprint: w.fingerprint,
      source: undefined,
      recorder: undefined,
      subscription: undefined,
      error: undefined,
      online: this.probedOnline.get(camera.id),
    }
    this.pipelines.set(key, pipeline)
    const secret = this.password(camera, stream)
    if (secret.error) {
      pipeline.error = secret.error
      this.o.logger.error({ camera: camera.id }, secret.error)
      return
    }
    const source = this.cameraStream(`${camera.id}/${stream.role}`, stream, secret.password)
    const recorder = new Recorder({
      cameraId: camera.id,
      stream: stream.role,
      dir: this.o.recordingsDir,
      index: this.o.index,
      segmentSeconds: this.o.segmentSeconds,
      logger: this.o.logger,
      beforeSegment: () => this.retention(),
      onGap: (gap) =>
        this.o.emit({
          type: 'recording.gap',
          cameraId: camera.id,
          data: {
            stream: stream.role,
            from: new Date(gap.fromMs).toISOString(),
            to: new Date(gap.toMs).toISOString(),
            durationMs: Math.round(gap.toMs - gap.fromMs),
            reason: cameraText(gap.reason),
          },
        }),
    })
    source.onState = (state, error) => this.stateChanged(pipeline, state, error)
    pipeline.source = source
    pipeline.recorder = recorder
    pipeline.subscription = source.producer.subscribe(recorder)
    source.start()
  }

  private stateChanged(p: Pipeline, state: StreamState, error?: string): void {
    if (state === 'streaming' && p.online !== true) {
      // The first connection after start is not news; coming back after an outage is.
      if (p.online === false)
        this.o.emit({ type: 'camera.online', cameraId: p.camera.id, data: { stream: p.stream.role } })
      p.online = true
    } else if (state === 'backoff' && p.online !== false) {
      p.online = false
      this.o.emit({
        type: 'camera.offline',
        cameraId: p.camera.id,
        data: { stream: p.stream.role, reason: cameraText(error) },
      })
    }
  }

  private async stopPipeline(p: Pipeline, reason: string): Promise<void> {
    const source = p.source
    p.source = undefined
    if (source) {
      source.onState = () => {}
      await source.stop()
    }
    await p.subscription?.idle()
    if (p.recorder) await p.recorder.stop(reason)
    if (p.subscription) source?.producer.unsubscribe(p.subscription)
  }

  /** The cameras configured now. */
  list(): readonly AgentCamera[] {
    return this.cameras
  }

  /** Whether any session of the camera (recording, live, kept open) is streaming now. */
  streaming(cameraId: string): boolean {
    if (this.pipelines.get(cameraId)?.source?.stats().state === 'streaming') return true
    for (const d of this.onDemand.values())
      if (d.cameraId === cameraId && d.source.stats().state === 'streaming') return true
    return false
  }

  /** The stream a health probe asks (the recording one), its password opened; `error` if it does not open. */
  probeTarget(
    cameraId: string,
  ): { url: string; username?: string; password?: string } | { error: string } | undefined {
    const camera = this.camera(cameraId)
    const stream = camera ? recordingStream(camera) : undefined
    if (!camera || !stream) return undefined
    const secret = this.password(camera, stream)
    if (secret.error) return { error: secret.error }
    return {
      url: stream.url,
      ...(stream.username ? { username: stream.username } : {}),
      ...(secret.password !== undefined ? { password: secret.password } : {}),
    }
  }

  /**
   * A health probe's verdict on a camera: raises `camera.offline` / `camera.online` as a stream's
   * transitions do, once per transition. A camera with a recording pipeline is left to it.
   */
  probed(cameraId: string, reachable: boolean, error?: string): void {
    const camera = this.camera(cameraId)
    const stream = camera ? recordingStream(camera) : undefined
    if (this.stopped || !camera || !stream || this.pipelines.has(cameraId)) return
    const was = this.probedOnline.get(cameraId)
    if (reachable && was !== true) {
      this.probedOnline.set(cameraId, true)
      // Like a stream's first connection: known online from the start is not news.
      if (was === false)
        this.o.emit({ type: 'camera.online', cameraId, data: { stream: stream.role, probe: true } })
    } else if (!reachable && was !== false) {
      this.probedOnline.set(cameraId, false)
      this.o.emit({
        type: 'camera.offline',
        cameraId,
        data: { stream: stream.role, reason: cameraText(error), probe: true },
      })
    }
  }

  /** Per camera and stream, for the heartbeat. */
  health(): CameraHealth[] {
    let oldest = new Map<string, number>()
    try {
      oldest = this.o.index.oldestStartByCamera()
    } catch (err) {
      this.o.logger.warn({ err }, 'could not read the oldest recordings for the heartbeat')
    }
    return this.cameras.map((camera) => {
      const p = this.pipelines.get(camera.id)
      const s = p?.source?.stats()
      return {
        id: camera.id,
        streams: p
          ? [
              {
                role: p.stream.role,
                state: s?.state ?? 'stopped',
                ...((p.error ?? s?.error) ? { error: cameraText(p.error ?? s?.error) } : {}),
                ...(s?.codec ? { codec: s.codec } : {}),
                ...(s?.audio ? { audio: s.audio } : {}),
                bitrateBps: s?.bitrateBps ?? 0,
                fps: s?.fps ?? 0,
                lostPackets: s?.lostPackets ?? 0,
                oversizedFrames: s?.oversizedFrames ?? 0,
                droppedFrames: s?.droppedFrames ?? 0,
                reconnects: s?.reconnects ?? 0,
                recording: p.recorder?.recording ?? false,
                ...p.recorder?.timeHealth,
                ...(p.recorder?.lastWrittenAt ? { lastWrittenAt: p.recorder.lastWrittenAt } : {}),
              },
            ]
          : [],
        ...this.retentionHealth(camera.id, oldest),
      }
    })
  }

  /** The camera's oldest recording and when retention last removed some of it for space. */
  private retentionHealth(cameraId: string, oldest: Map<string, number>): Pick<CameraHealth, 'retention'> {
    const oldestMs = oldest.get(cameraId)
    const evictedMs = this.evictedForSpace.get(cameraId)
    if (oldestMs === undefined && evictedMs === undefined) return {}
    return {
      retention: {
        ...(oldestMs !== undefined ? { oldestAt: new Date(oldestMs).toISOString() } : {}),
        ...(evictedMs !== undefined ? { evictedForSpaceAt: new Date(evictedMs).toISOString() } : {}),
      },
    }
  }

  /** A new disk quota (undefined: none), in force at once: retention runs with it now. */
  setQuotaBytes(bytes: number | undefined): void {
    this.quotaBytes = bytes
    this.retention()
  }

  /** Retention for every camera: its age limit, and the agent's quota and free-space floor. */
  retention(): void {
    if (this.stopped) return
    const retentionDays = new Map(this.cameras.map((c) => [c.id, c.recording.retentionDays]))
    try {
      const now = Date.now()
      const deleted = enforceRetention(
        this.o.index,
        {
          retentionDays,
          ...(this.quotaBytes !== undefined ? { quotaBytes: this.quotaBytes } : {}),
          minFreeBytes: this.o.minFreeBytes,
          dir: this.o.recordingsDir,
        },
        this.o.logger,
        now,
      )
      // A segment removed while younger than its camera's retention went for space (the quota or
      // the free-space floor), not for age: the camera keeps less than it is configured to.
      for (const s of deleted) {
        const days = retentionDays.get(s.camera_id)
        if (days !== undefined && s.recorded_ms > now - days * 86_400_000)
          this.evictedForSpace.set(s.camera_id, now)
      }
    } catch (err) {
      this.o.logger.error({ err }, 'retention failed; it runs again shortly')
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.retentionTimer) clearInterval(this.retentionTimer)
    this.keptOpen.clear()
    for (const p of this.pipelines.values()) await this.stopPipeline(p, 'agent stopped')
    this.pipelines.clear()
    for (const d of this.onDemand.values()) {
      clearTimeout(d.linger)
      await d.source.stop()
    }
    this.onDemand.clear()
  }
}
