import { createHash } from 'node:crypto'
import {
  type AgentCamera,
  type AgentCameraStream,
  type CameraHealth,
  cameraPasswordContext,
  SecretBox,
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

/** The stream a camera is recorded from. */
export const recordingStream = (c: AgentCamera): AgentCameraStream | undefined =>
  c.streams.find((s) => s.role === 'main') ?? c.streams[0]

export class CameraManager {
  private readonly pipelines = new Map<string, Pipeline>()
  private cameras: AgentCamera[] = []
  private retentionTimer: NodeJS.Timeout | undefined
  private readonly box: SecretBox | undefined
  private stopped = false

  constructor(private readonly o: CameraManagerOptions) {
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
      // The sealed password changes with every publication (fresh nonce): compare what it opens to.
      const { passwordSealed: _sealed, ...visible } = stream
      const secret = this.password(camera, stream)
      const opened = createHash('sha256')
        .update(secret.password ?? secret.error ?? '')
        .digest('hex')
      wanted.set(camera.id, {
        camera,
        stream,
        fingerprint: JSON.stringify([visible, opened, camera.recording.enabled]),
      })
    }
    for (const [key, p] of this.pipelines) {
      const w = wanted.get(key)
      if (!w || w.fingerprint !== p.fingerprint) {
        await this.stopPipeline(p, w ? 'camera settings changed' : 'camera removed from this agent')
        this.pipelines.delete(key)
      } else {
        p.camera = w.camera // name or retention changed: nothing to restart
      }
    }
    for (const [key, w] of wanted) if (!this.pipelines.has(key)) this.startPipeline(key, w)
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
      online: undefined,
    }
    this.pipelines.set(key, pipeline)
    const secret = this.password(camera, stream)
    if (secret.error) {
      pipeline.error = secret.error
      this.o.logger.error({ camera: camera.id }, secret.error)
      return
    }
    const source = new CameraStream(
      `${camera.id}/${stream.role}`,
      {
        url: stream.url,
        ...(stream.username ? { username: stream.username } : {}),
        ...(secret.password !== undefined ? { password: secret.password } : {}),
        transport: stream.transport,
        dataTimeoutMs: this.o.cameraTimeoutMs,
      },
      this.o.logger,
      { maxMs: this.o.reconnectMaxMs },
    )
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
            reason: gap.reason,
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
        data: { stream: p.stream.role, reason: error ?? 'unknown' },
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

  /** Per camera and stream, for the heartbeat. */
  health(): CameraHealth[] {
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
                ...((p.error ?? s?.error) ? { error: (p.error ?? s?.error ?? '').slice(0, 500) } : {}),
                ...(s?.codec ? { codec: s.codec } : {}),
                ...(s?.audio ? { audio: s.audio } : {}),
                bitrateBps: s?.bitrateBps ?? 0,
                fps: s?.fps ?? 0,
                lostPackets: s?.lostPackets ?? 0,
                reconnects: s?.reconnects ?? 0,
                recording: p.recorder?.recording ?? false,
              },
            ]
          : [],
      }
    })
  }

  /** Retention for every camera: its age limit, and the agent's quota and free-space floor. */
  retention(): void {
    if (this.stopped) return
    try {
      enforceRetention(
        this.o.index,
        {
          retentionDays: new Map(this.cameras.map((c) => [c.id, c.recording.retentionDays])),
          ...(this.o.quotaBytes !== undefined ? { quotaBytes: this.o.quotaBytes } : {}),
          minFreeBytes: this.o.minFreeBytes,
          dir: this.o.recordingsDir,
        },
        this.o.logger,
      )
    } catch (err) {
      this.o.logger.error({ err }, 'retention failed; it runs again shortly')
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.retentionTimer) clearInterval(this.retentionTimer)
    for (const p of this.pipelines.values()) await this.stopPipeline(p, 'agent stopped')
    this.pipelines.clear()
  }
}
