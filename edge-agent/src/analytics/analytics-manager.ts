import { availableParallelism } from 'node:os'
import {
  ACTIVITY_BUCKET_SECONDS,
  type AgentCamera,
  type AnalyticsConfig,
  type AnalyticsSnapshotResult,
  analyticsConfigSchema,
  type CameraAnalyticsHealth,
  cleanText,
  type DownRequest,
  type LiveObjects,
  MAX_LIVE_OBJECTS,
  type ObjectEventData,
  PROTOCOL_VERSION,
  resolveAnalyticsStream,
  SNAPSHOT_MAX_BASE64,
  type StreamRole,
  type UpResponse,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import sharp from 'sharp'
import type { CameraManager, StreamLease } from '../cameras/camera-manager.ts'
import { answerRequest } from '../link/answer-request.ts'
import type { Subscription } from '../media/core/producer.ts'
import { FrameDecoder } from './decode/frame-decoder.ts'
import { DetectorPool } from './detect/detector-pool.ts'
import { type ModelCatalog, ModelUnavailable } from './detect/model-catalog.ts'
import type { ObjectEventChange } from './events/object-events.ts'
import { type MotionBucket, MotionTime } from './motion/motion-detector.ts'
import { CameraAnalytics } from './pipeline/camera-analytics.ts'
import { annotateSnapshot, type RelativeBox } from './snapshot/snapshot.ts'
import type { SnapshotStore } from './snapshot/snapshot-store.ts'
import type { Frame } from './types.ts'

/**
 * The agent's analytics: for each camera whose configuration turns it on, a decoder on the
 * analytics stream (borrowed from the camera manager: the same RTSP session the recorder or live
 * view uses, never a second one), the camera's pipeline (`CameraAnalytics`) and a detector from the
 * model's shared pool. Object events go into the outbox (exactly once to the hub, whatever the
 * outages), snapshots onto disk beside the recordings, motion time into `activity` records.
 *
 * It never takes recording down with it: a missing ffmpeg or model, a model that fails to load or
 * a configuration its model cannot satisfy puts the camera's analytics in `error` with the reason,
 * and the camera records on.
 *
 * Crash safety: the events still open are kept in the outbox's settings (one small write per
 * change). After a crash or power cut their tracks are gone, so the next start ends each of them
 * at its last sighting, and no event stays "active" on the hub forever.
 */
export interface AnalyticsRecord {
  type: 'event' | 'activity'
  body: Record<string, unknown>
}

export interface AnalyticsManagerOptions {
  cameras: Pick<CameraManager, 'acquireStream' | 'isCurrent' | 'camera'>
  models: ModelCatalog
  snapshots: SnapshotStore
  logger: Logger
  /** Path of ffmpeg, or undefined when the agent has none (analytics is then refused). */
  ffmpeg: string | undefined
  /** Writes one record to the outbox (never throws). */
  write: (record: AnalyticsRecord) => void
  /** Persisted settings (the outbox's): the open events survive a crash there. */
  getSetting: (key: string) => string | undefined
  setSetting: (key: string, value: string) => void
  respond: (response: Omit<UpResponse, 'v'>) => Promise<void>
  /** Detectors per model (default: the machine's cores). */
  detectorsPerModel?: number
  /** How often motion buckets that are over are sent (ms, default 30 s). */
  activityFlushMs?: number
  /** Whether someone watches the camera live now: its objects then go out after each frame. */
  isWatched?: (cameraId: string) => boolean
  /** Sends what a camera tracks now (`up/objects`, ephemeral) for the live view's overlay. */
  publishObjects?: (objects: LiveObjects) => void
}

type SnapshotRequest = Extract<DownRequest, { op: 'analytics.snapshot' }>

interface OpenEvent {
  cameraId: string
  data: ObjectEventData
}

const OPEN_EVENTS_KEY = 'analytics.openEvents'
const iso = (ms: number) => new Date(ms).toISOString()

/** One camera's running analytics, or why it is not running. */
interface CameraRun {
  cameraId: string
  fingerprint: string
  config: AnalyticsConfig
  stream: StreamRole
  state: 'running' | 'error'
  error: string | undefined
  lease: StreamLease | undefined
  subscription: Subscription | undefined
  decoder: FrameDecoder | undefined
  pool: DetectorPool | undefined
  pipeline: CameraAnalytics | undefined
  /** The size the pipeline was built for: a new size (stream change) rebuilds it. */
  size: { width: number; height: number } | undefined
  /** Snapshot boxes (relative) by event, from the change that asked for the snapshot. */
  snapshotBoxes: Map<string, RelativeBox>
  /** The latest decoder error, shown while no frame has come. */
  decoderError: string | undefined
  stopped: boolean
}

export class AnalyticsManager {
  private readonly runs = new Map<string, CameraRun>()
  private readonly pools = new Map<string, { pool: Promise<DetectorPool>; users: number }>()
  private readonly open = new Map<string, OpenEvent>()
  /** Motion time from the cameras' own detection (`deviceMotion`), by camera. */
  private readonly deviceMotionTime = new Map<string, { time: MotionTime; active: boolean }>()
  /**
   * The cameras whose own motion detection reports motion now: what a pipeline configured with
   * `motionSource: 'device'` takes as its motion, frame by frame.
   */
  private readonly deviceMotionOn = new Set<string>()
  private readonly flushTimer: NodeJS.Timeout
  private stopped = false

  constructor(private readonly o: AnalyticsManagerOptions) {
    this.endEventsLeftOpen()
    this.flushTimer = setInterval(() => this.flushActivity(), o.activityFlushMs ?? 30_000)
    this.flushTimer.unref()
  }

  /** Brings analytics in line with the cameras' configuration (call after the camera manager's). */
  async apply(cameras: readonly AgentCamera[]): Promise<void> {
    if (this.stopped) return
    const wanted = new Map<string, { camera: AgentCamera; config: AnalyticsConfig; stream: StreamRole }>()
    for (const camera of cameras) {
      const config = camera.analytics
      if (!config?.enabled) continue
      const stream = resolveAnalyticsStream(
        config,
        camera.streams.some((s) => s.role === 'sub'),
      )
      wanted.set(camera.id, { camera, config, stream })
    }
    for (const [id, run] of this.runs) {
      const w = wanted.get(id)
      const fingerprint = w ? this.fingerprint(w.camera, w.config, w.stream) : ''
      // A stream reconnected with new settings leaves the lease on the old session: restart too.
      const stale = run.lease !== undefined && !this.o.cameras.isCurrent(run.lease, id)
      if (!w || fingerprint !== run.fingerprint || stale) {
        this.runs.delete(id)
        await this.stopRun(run)
      }
    }
    for (const [id, w] of wanted) if (!this.runs.has(id)) await this.startRun(w.camera, w.config, w.stream)
  }

  /**
   * A camera's own motion detection started or ended (its `device.motion` events). It is the
   * motion of a pipeline configured with `motionSource: 'device'` (asked frame by frame, see
   * `CameraAnalytics`), and motion time in the same activity buckets as the agent's own, so the
   * timeline works for cameras the agent does not analyse. A camera whose analytics runs sends the
   * pipeline's measure only (`flushDeviceMotion` drops these buckets): the hub adds up what it is
   * sent for a bucket, and both would count the same motion. With `device`, the pipeline's
   * measure is this same state, sampled at its frames.
   */
  deviceMotion(cameraId: string, active: boolean, at: Date = new Date()): void {
    if (this.stopped) return
    if (active) this.deviceMotionOn.add(cameraId)
    else this.deviceMotionOn.delete(cameraId)
    let m = this.deviceMotionTime.get(cameraId)
    if (!m) {
      if (!active) return
      // No gap cap: every device start gets its end (DeviceEventManager guarantees it), and
      // motion still going on is counted up to each flush.
      const time = new MotionTime({
        bucketMs: ACTIVITY_BUCKET_SECONDS * 1000,
        maxGapMs: Number.POSITIVE_INFINITY,
      })
      m = { time, active }
      this.deviceMotionTime.set(cameraId, m)
    }
    m.time.add(at.getTime(), active)
    m.active = active
  }

  /** Per configured camera, for the heartbeat: running, error or (configured off) disabled. */
  health(cameras: readonly AgentCamera[]): Map<string, CameraAnalyticsHealth> {
    const out = new Map<string, CameraAnalyticsHealth>()
    for (const camera of cameras) {
      const run = this.runs.get(camera.id)
      if (!run) {
        out.set(camera.id, { state: 'disabled', fps: 0, inferenceMsP50: 0, skippedByMotion: 0 })
        continue
      }
      const stats = run.pipeline?.stats()
      const error = run.state === 'error' ? run.error : stats && stats.fps > 0 ? undefined : run.decoderError
      out.set(camera.id, {
        state: run.state,
        ...(error ? { error: cleanText(error, { maxLength: 500 }) } : {}),
        fps: round(stats?.fps ?? 0, 2),
        inferenceMsP50: round(stats?.inferenceMsP50 ?? 0, 2),
        skippedByMotion: round(stats?.skippedByMotion ?? 0, 4),
        stream: run.stream,
        model: run.config.model,
        framesDropped: stats?.framesDropped ?? 0,
        activeObjects: stats?.activeObjects ?? 0,
      })
    }
    return out
  }

  /** `analytics.snapshot`: an event's snapshot as stored, with its box drawn, or cropped to it. */
  handleSnapshot(request: SnapshotRequest): Promise<void> {
    return answerRequest(
      request,
      this.o,
      async () => {
        const found = this.o.snapshots.read(request.cameraId, request.eventId)
        if (!found) throw new SnapshotUnknown()
        let jpeg =
          request.variant === 'full'
            ? found.jpeg
            : await annotateSnapshot(found.jpeg, found.meta.box, {
                drawBox: request.variant === 'box',
                crop: request.variant === 'crop',
              })
        let meta = await sharp(jpeg).metadata()
        // The answer travels in one MQTT message: a snapshot too large for it goes smaller.
        while (Math.ceil(jpeg.length / 3) * 4 > SNAPSHOT_MAX_BASE64 && meta.width > 160) {
          jpeg = await sharp(jpeg)
            .resize({ width: Math.round(meta.width * 0.7) })
            .jpeg({ quality: 80 })
            .toBuffer()
          meta = await sharp(jpeg).metadata()
        }
        const result: AnalyticsSnapshotResult = {
          contentType: 'image/jpeg',
          base64: jpeg.toString('base64'),
          width: meta.width,
          height: meta.height,
        }
        return result
      },
      (err) =>
        err instanceof SnapshotUnknown
          ? { status: 404, code: 'snapshot_unknown', message: 'this agent has no snapshot for that event' }
          : undefined,
    )
  }

  /**
   * Snapshot retention: the cameras' retention days (30 for cameras no longer here); a snapshot
   * whose frame an evidence lock covers (`locked`) is kept, as its recording is.
   */
  retention(
    cameras: readonly AgentCamera[],
    locked?: (cameraId: string, frameTime: number) => boolean,
  ): void {
    try {
      const removed = this.o.snapshots.enforceRetention(
        new Map(cameras.map((c) => [c.id, c.recording.retentionDays])),
        30,
        Date.now(),
        locked,
      )
      if (removed > 0) this.o.logger.info({ removed }, 'analytics: snapshots past retention removed')
    } catch (err) {
      this.o.logger.warn({ err }, 'analytics: snapshot retention failed; it runs again later')
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.flushTimer)
    for (const run of this.runs.values()) await this.stopRun(run)
    this.runs.clear()
    this.flushDeviceMotion(Date.now(), true)
    for (const { pool } of this.pools.values()) await (await pool.catch(() => undefined))?.close()
    this.pools.clear()
  }

  private fingerprint(camera: AgentCamera, config: AnalyticsConfig, stream: StreamRole): string {
    const s = camera.streams.find((x) => x.role === stream)
    return JSON.stringify([
      config,
      stream,
      s ? { url: s.url, username: s.username, transport: s.transport } : null,
    ])
  }

  private async startRun(camera: AgentCamera, config: AnalyticsConfig, stream: StreamRole): Promise<void> {
    const run: CameraRun = {
      cameraId: camera.id,
      fingerprint: this.fingerprint(camera, config, stream),
      config,
      stream,
      state: 'running',
      error: undefined,
      lease: undefined,
      subscription: undefined,
      decoder: undefined,
      pool: undefined,
      pipeline: undefined,
      size: undefined,
      snapshotBoxes: new Map(),
      decoderError: undefined,
      stopped: false,
    }
    this.runs.set(camera.id, run)
    const fail = (error: string) => {
      run.state = 'error'
      run.error = error
      this.o.logger.warn({ camera: camera.id, error }, 'analytics cannot run on this camera; it records on')
    }
    if (!this.o.ffmpeg)
      return fail('ffmpeg not found: install ffmpeg or set FFMPEG_PATH (recording is not affected)')
    if (!camera.streams.some((s) => s.role === stream))
      return fail(`the camera has no ${stream} stream to analyse`)
    let pool: DetectorPool
    try {
      pool = await this.acquirePool(config.model)
    } catch (err) {
      return fail(
        err instanceof ModelUnavailable ? err.message : `the model does not load: ${(err as Error).message}`,
      )
    }
    if (run.stopped) return void this.releasePool(config.model)
    run.pool = pool
    // The hub checked the labels against its idea of the model; the model loaded here decides.
    const checked = analyticsConfigSchema(pool.labels).safeParse(config)
    if (!checked.success) {
      const issue = checked.error.issues[0]
      return fail(
        `the configuration does not fit model "${config.model}": ${issue?.path.join('.')}: ${issue?.message}`,
      )
    }
    try {
      run.lease = this.o.cameras.acquireStream(camera.id, stream)
    } catch (err) {
      return fail((err as Error).message)
    }
    const decoder = new FrameDecoder({
      ffmpeg: this.o.ffmpeg,
      logger: this.o.logger,
      fps: config.fps,
      onFrame: (frame) => this.frame(run, frame),
      onError: (reason) => {
        run.decoderError = reason
      },
    })
    run.decoder = decoder
    run.subscription = run.lease.source.producer.subscribe(decoder, { queueFrames: 60 })
    this.o.logger.info(
      { camera: camera.id, stream, model: config.model, fps: config.fps },
      'analytics started',
    )
  }

  private frame(run: CameraRun, frame: Frame): void {
    if (run.stopped || !run.pool) return
    if (!run.pipeline || run.size?.width !== frame.width || run.size.height !== frame.height) {
      const previous = run.pipeline
      run.size = { width: frame.width, height: frame.height }
      run.pipeline = new CameraAnalytics({
        cameraId: run.cameraId,
        config: run.config,
        width: frame.width,
        height: frame.height,
        detector: run.pool,
        motionBucketMs: ACTIVITY_BUCKET_SECONDS * 1000,
        deviceMotion: () => this.deviceMotionOn.has(run.cameraId),
        logger: this.o.logger,
        emit: (change) => this.emit(run, change),
        saveSnapshot: async (eventId, jpeg, frameTime) => {
          const box = run.snapshotBoxes.get(eventId)
          if (!box) throw new Error('no box for the snapshot')
          this.o.snapshots.save({ cameraId: run.cameraId, eventId, frameTime, box }, jpeg)
        },
      })
      if (previous) void this.closePipeline(run, previous)
    }
    const pipeline = run.pipeline
    void pipeline.process(frame).then(() => this.publishObjects(run, pipeline, frame.time))
  }

  /** The overlay's objects after a frame, while the camera is watched live (a lost message is replaced 200 ms later). */
  private publishObjects(run: CameraRun, pipeline: CameraAnalytics, time: number): void {
    if (
      run.stopped ||
      run.pipeline !== pipeline ||
      !this.o.publishObjects ||
      !this.o.isWatched?.(run.cameraId)
    )
      return
    try {
      this.o.publishObjects({
        v: PROTOCOL_VERSION,
        cameraId: run.cameraId,
        time: iso(time),
        objects: pipeline
          .currentObjects()
          .slice(0, MAX_LIVE_OBJECTS)
          .map((o) => ({ ...o, score: round(o.score, 3) })),
      })
    } catch (err) {
      this.o.logger.debug({ err }, 'analytics: live objects not sent')
    }
  }

  private emit(run: CameraRun, change: ObjectEventChange): void {
    const d = change.data
    if (change.snapshot) run.snapshotBoxes.set(change.id, d.box)
    const data: ObjectEventData = {
      eventId: change.id,
      kind: change.kind,
      reason: change.reason,
      label: d.label,
      score: round(d.score, 4),
      startTime: iso(d.startTime),
      endTime: d.endTime === null ? null : iso(d.endTime),
      zones: d.zones,
      box: d.box.map((v) => round(Math.min(1, Math.max(0, v)), 5)) as ObjectEventData['box'],
      stationary: d.stationary,
      loitering: d.loitering,
      hasSnapshot: d.hasSnapshot,
    }
    this.o.write({ type: 'event', body: { type: 'object', cameraId: run.cameraId, data } })
    if (change.kind === 'end') {
      this.open.delete(change.id)
      run.snapshotBoxes.delete(change.id)
    } else this.open.set(change.id, { cameraId: run.cameraId, data })
    this.saveOpen()
  }

  /** Ends (in the outbox) the events a previous run left open: their tracks died with it. */
  private endEventsLeftOpen(): void {
    const saved = this.o.getSetting(OPEN_EVENTS_KEY)
    if (!saved) return
    let list: OpenEvent[] = []
    try {
      list = JSON.parse(saved) as OpenEvent[]
    } catch {
      this.o.logger.warn('analytics: the saved open events do not read; dropped')
    }
    for (const e of Array.isArray(list) ? list : []) {
      if (!e?.data?.eventId) continue
      // Last seen no earlier than its start: the last update's time is the best we know.
      const data: ObjectEventData = {
        ...e.data,
        kind: 'end',
        reason: ['track-ended'],
        endTime: e.data.endTime ?? e.data.startTime,
      }
      this.o.write({ type: 'event', body: { type: 'object', cameraId: e.cameraId, data } })
    }
    if (list.length > 0)
      this.o.logger.warn({ ended: list.length }, 'analytics: ended the events an unclean stop left open')
    this.o.setSetting(OPEN_EVENTS_KEY, '[]')
  }

  private saveOpen(): void {
    this.o.setSetting(OPEN_EVENTS_KEY, JSON.stringify([...this.open.values()]))
  }

  private flushActivity(run?: CameraRun, pipeline?: CameraAnalytics): void {
    const targets =
      run && pipeline
        ? [[run, pipeline] as const]
        : [...this.runs.values()].flatMap((r) => (r.pipeline ? [[r, r.pipeline] as const] : []))
    for (const [r, p] of targets) this.writeActivity(r.cameraId, p.takeMotionBuckets())
    if (!run) this.flushDeviceMotion(Date.now(), false)
  }

  /** Device motion buckets that are over (`all`: every one, when stopping). */
  private flushDeviceMotion(now: number, all: boolean): void {
    for (const [cameraId, m] of this.deviceMotionTime) {
      m.time.add(now, m.active) // motion still going on counts up to now
      const buckets = m.time.takeBefore(all ? Number.POSITIVE_INFINITY : now)
      if (!m.active && m.time.buckets().length === 0) this.deviceMotionTime.delete(cameraId)
      const run = this.runs.get(cameraId)
      if (run?.state === 'running' && run.pipeline) continue
      this.writeActivity(cameraId, buckets)
    }
  }

  private writeActivity(cameraId: string, buckets: MotionBucket[]): void {
    if (buckets.length === 0) return
    this.o.write({
      type: 'activity',
      body: {
        cameraId,
        bucketSeconds: ACTIVITY_BUCKET_SECONDS,
        buckets: buckets.map((b) => ({
          start: iso(b.start),
          motionSeconds: round(Math.min(ACTIVITY_BUCKET_SECONDS, b.seconds), 3),
        })),
      },
    })
  }

  private async closePipeline(run: CameraRun, pipeline: CameraAnalytics): Promise<void> {
    await pipeline.close() // ends its open events
    this.flushActivity(run, pipeline)
    this.dropDeviceMotion(run.cameraId, Date.now())
  }

  /**
   * Forgets the camera's device motion time up to `now`: a pipeline counted that time (from its
   * pixels, or from this same device state), so sending it too, once the run is gone and
   * `flushDeviceMotion` no longer skips the camera, would count it twice. Motion going on is
   * counted again from `now`.
   */
  private dropDeviceMotion(cameraId: string, now: number): void {
    const m = this.deviceMotionTime.get(cameraId)
    if (!m) return
    m.time.add(now, m.active)
    m.time.takeBefore(Number.POSITIVE_INFINITY)
    if (!m.active) this.deviceMotionTime.delete(cameraId)
  }

  private async stopRun(run: CameraRun): Promise<void> {
    run.stopped = true
    if (run.subscription && run.lease) run.lease.source.producer.unsubscribe(run.subscription)
    await run.decoder?.close()
    if (run.pipeline) await this.closePipeline(run, run.pipeline)
    run.lease?.release()
    if (run.pool) this.releasePool(run.config.model)
    this.o.logger.info({ camera: run.cameraId }, 'analytics stopped')
  }

  private acquirePool(model: string): Promise<DetectorPool> {
    let entry = this.pools.get(model)
    if (!entry) {
      const spec = this.o.models.resolve(model) // throws ModelUnavailable: nothing to cache
      const pool = DetectorPool.open(spec, this.o.detectorsPerModel ?? availableParallelism())
      entry = { pool, users: 0 }
      this.pools.set(model, entry)
      // A model that failed to load is tried again by the next camera (or config) that needs it.
      pool.catch(() => {
        if (this.pools.get(model) === entry) this.pools.delete(model)
      })
    }
    entry.users++
    return entry.pool
  }

  private releasePool(model: string): void {
    const entry = this.pools.get(model)
    if (!entry) return
    entry.users--
    if (entry.users > 0) return
    this.pools.delete(model)
    void entry.pool.then((p) => p.close()).catch(() => undefined)
  }
}

class SnapshotUnknown extends Error {}

const round = (v: number, digits: number) => {
  const f = 10 ** digits
  return Math.round(v * f) / f
}
