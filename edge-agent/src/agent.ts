import path from 'node:path'
import { type AgentConfig, agentConfig, type DownConfig, LIVE_BUNDLE_FEATURE } from '@ts-vms/shared'
import type { Logger } from 'pino'
import { AnalyticsManager } from './analytics/analytics-manager.ts'
import { ModelCatalog } from './analytics/detect/model-catalog.ts'
import { ModelSync } from './analytics/detect/model-sync.ts'
import { SnapshotStore } from './analytics/snapshot/snapshot-store.ts'
import { CameraManager } from './cameras/camera-manager.ts'
import { HealthProbe } from './cameras/health-probe.ts'
import { RecordingRequests } from './cameras/recording-requests.ts'
import { StreamProbe } from './cameras/stream-probe.ts'
import type { AgentSettings } from './config.ts'
import { readCredentials } from './credentials.ts'
import { DeviceEventManager } from './devices/device-event-manager.ts'
import { DeviceRequests, isDeviceRequest } from './devices/device-requests.ts'
import { AGENT_VERSION } from './enroll.ts'
import { diskSpace, healthSample } from './health.ts'
import { HubLink } from './link/hub-link.ts'
import { LiveView } from './live/live-view.ts'
import { findFfmpeg } from './media/ffmpeg.ts'
import { AgentMetrics, type DiskSample } from './metrics/agent-metrics.ts'
import { type MetricsServer, startMetricsServer } from './metrics/metrics-server.ts'
import { Outbox } from './outbox/outbox.ts'
import { OutboxWriter } from './outbox/outbox-writer.ts'
import { RecordingIndex } from './recorder/recording-index.ts'
import { repairRecordings } from './recorder/repair.ts'

/** The last applied configuration; one that no longer reads is dropped (the hub sends it again). */
function savedConfig(saved: string | undefined, logger: Logger): { version: number; config: AgentConfig } {
  const empty = { version: 0, config: agentConfig.parse({}) }
  if (!saved) return empty
  try {
    const raw = JSON.parse(saved) as { version?: unknown; config?: unknown }
    const config = agentConfig.safeParse(raw.config)
    if (config.success && typeof raw.version === 'number')
      return { version: raw.version, config: config.data }
  } catch {}
  logger.warn('the saved configuration does not read; waiting for the hub to send it again')
  return empty
}

export const outboxFile = (dataDir: string) => path.join(dataDir, 'outbox.db')

/**
 * The edge agent: its outbox, its link to the hub, heartbeats, its applied configuration, and
 * its cameras (recording now; live view and analytics plug in as later issues land).
 */
export class EdgeAgent {
  readonly outbox: Outbox
  /** Every write of the running agent goes through it: a full data disk never throws out of it. */
  readonly writer: OutboxWriter
  readonly index: RecordingIndex
  readonly cameras: CameraManager
  private readonly requests: RecordingRequests
  private readonly probe: StreamProbe
  /** Health probes of the cameras and their devices, on an interval (issue 14). */
  readonly healthProbe: HealthProbe
  readonly metrics: AgentMetrics
  /** The `GET /metrics` listener, once up (VMS_AGENT_METRICS_PORT set). */
  metricsServer: MetricsServer | undefined
  /** Device discovery and probes, camera snapshots and PTZ (issue 14). */
  private readonly devices: DeviceRequests
  readonly live: LiveView
  readonly analytics: AnalyticsManager
  /** The devices' own events (motion, line crossing, ...): one stream per device (issue 14). */
  readonly deviceEvents: DeviceEventManager
  /** Downloads the hub's models the cameras name (config.models); analytics waits for none. */
  readonly models: ModelSync
  /** Analytics changes, one at a time (configurations and finished downloads both apply). */
  private analyticsQueue: Promise<void> = Promise.resolve()
  private readonly link: HubLink
  private heartbeat: NodeJS.Timeout | undefined
  private readonly startedAt = Date.now()
  private stopped = false
  /** The recordings' disk quota in force (VMS_AGENT_RECORDING_QUOTA_BYTES; the setup wizard may change it). */
  private quotaBytes: number | undefined
  config: { version: number; config: AgentConfig }

  constructor(
    private readonly settings: AgentSettings,
    private readonly logger: Logger,
  ) {
    const credentials = readCredentials(settings.VMS_AGENT_DATA_DIR)
    this.quotaBytes = settings.VMS_AGENT_RECORDING_QUOTA_BYTES
    this.outbox = new Outbox(outboxFile(settings.VMS_AGENT_DATA_DIR), settings.VMS_AGENT_OUTBOX_MAX_BYTES)
    // An agent that starts offline runs on its last applied configuration.
    this.config = savedConfig(this.outbox.getSetting('config'), logger)
    this.writer = new OutboxWriter({ outbox: this.outbox, logger, onWritten: () => void this.link?.pump() })
    this.index = new RecordingIndex(path.join(settings.VMS_AGENT_RECORDINGS_DIR, 'index.db'))
    // A crash or power cut leaves segments open: cut them back to what is durable first.
    const repaired = repairRecordings(this.index, logger)
    if (repaired.repaired + repaired.removed > 0)
      logger.warn(repaired, 'repaired recordings after an unclean stop')
    // The evidence locks of the last applied configuration hold before any retention runs.
    this.syncEvidenceLocks(this.config.config)
    this.cameras = new CameraManager({
      index: this.index,
      recordingsDir: settings.VMS_AGENT_RECORDINGS_DIR,
      configKey: credentials.configKey,
      segmentSeconds: settings.VMS_AGENT_SEGMENT_SECONDS,
      quotaBytes: settings.VMS_AGENT_RECORDING_QUOTA_BYTES,
      minFreeBytes: settings.VMS_AGENT_MIN_FREE_BYTES,
      retentionIntervalSeconds: settings.VMS_AGENT_RETENTION_INTERVAL_SECONDS,
      reconnectMaxMs: settings.VMS_AGENT_RECONNECT_MAX_MS,
      cameraTimeoutMs: settings.VMS_AGENT_CAMERA_TIMEOUT_MS,
      onDemandLingerMs: settings.VMS_AGENT_ON_DEMAND_LINGER_MS,
      liveStreams: settings.VMS_AGENT_LIVE_STREAMS,
      logger,
      emit: (e) => this.event(e),
    })
    this.link = new HubLink({
      credentials,
      outbox: this.outbox,
      logger,
      version: AGENT_VERSION,
      features: [LIVE_BUNDLE_FEATURE],
      batchMax: settings.VMS_AGENT_BATCH_MAX,
      maxInflight: settings.VMS_AGENT_MAX_INFLIGHT,
      ackTimeoutMs: settings.VMS_AGENT_ACK_TIMEOUT_MS,
      onConfig: (c) => this.applyConfig(c),
      onRequest: (r) =>
        void (r.op === 'live.offer' || r.op === 'live.bundle' || r.op === 'live.close'
          ? this.live.handle(r)
          : r.op === 'camera.probe'
            ? this.probe.handle(r)
            : r.op === 'analytics.snapshot'
              ? this.analytics.handleSnapshot(r)
              : isDeviceRequest(r)
                ? this.devices.handle(r)
                : this.requests.handle(r)),
    })
    this.requests = new RecordingRequests({
      index: this.index,
      credentials,
      tmpDir: path.join(settings.VMS_AGENT_DATA_DIR, 'exports-tmp'),
      logger,
      respond: (r) => this.link.respond(r),
    })
    // Looked up once: the stream test decodes its still with it, live view transcodes when allowed.
    const ffmpeg = findFfmpeg()
    this.probe = new StreamProbe({
      cameras: this.cameras,
      logger,
      respond: (r) => this.link.respond(r),
      ffmpeg,
    })
    this.devices = new DeviceRequests({
      logger,
      respond: (r) => this.link.respond(r),
      configKey: credentials.configKey,
      camera: (id) => this.config.config.cameras.find((c) => c.id === id),
      streamStill: (cameraId, o) => {
        const streams = this.config.config.cameras.find((c) => c.id === cameraId)?.streams ?? []
        // The main stream for the best picture; the sub one when the camera has only that.
        const role = streams.some((s) => s.role === 'main') ? 'main' : (streams[0]?.role ?? 'main')
        return this.probe.stillJpeg(cameraId, { ...o, role })
      },
    })
    this.live = new LiveView({
      cameras: this.cameras,
      logger,
      respond: (r) => this.link.respond(r),
      hostAddresses: settings.VMS_AGENT_LIVE_HOST_ADDRESSES,
      portRange: settings.VMS_AGENT_LIVE_PORT_RANGE,
      maxPeers: settings.VMS_AGENT_LIVE_MAX_PEERS,
      startTimeoutMs: settings.VMS_AGENT_LIVE_START_TIMEOUT_MS,
      connectTimeoutMs: settings.VMS_AGENT_LIVE_CONNECT_TIMEOUT_MS,
      ffmpeg: settings.VMS_AGENT_LIVE_TRANSCODE ? ffmpeg : undefined,
      emit: (e) => this.event(e),
    })
    this.models = new ModelSync({
      modelsDir: settings.VMS_AGENT_MODELS_DIR,
      hubUrl: credentials.hubUrl,
      hubPinSha256: credentials.hubPinSha256,
      agentId: credentials.agentId,
      secret: credentials.secret,
      logger,
      onChange: (id) => this.modelChanged(id),
    })
    this.analytics = new AnalyticsManager({
      cameras: this.cameras,
      models: new ModelCatalog({
        modelsDir: settings.VMS_AGENT_MODELS_DIR,
        defaultModel: settings.VMS_AGENT_DEFAULT_MODEL,
        defaultFormat: settings.VMS_AGENT_DEFAULT_MODEL_FORMAT,
        downloadStatus: (id) => this.models.statusOf(id),
      }),
      snapshots: new SnapshotStore(settings.VMS_AGENT_RECORDINGS_DIR),
      logger,
      ffmpeg,
      // Also while stopping: a graceful stop ends the open object events (at their last sighting)
      // and flushes motion time, and those records must reach the outbox before it closes. After
      // `closeDatabases` (the last-resort path) the writer drops them and the next start ends the
      // events from the saved list instead.
      write: (r) => this.writer.write(r.type, r.body),
      getSetting: (key) => this.outbox.getSetting(key),
      setSetting: (key, value) => this.writer.setSetting(key, value),
      respond: (r) => this.link.respond(r),
      activityFlushMs: settings.VMS_AGENT_ACTIVITY_FLUSH_SECONDS * 1000,
      isWatched: (cameraId) => this.live.isWatched(cameraId),
      publishObjects: (objects) => this.link.publishEphemeral('objects', objects),
      ...(settings.VMS_AGENT_ANALYTICS_DETECTORS
        ? { detectorsPerModel: settings.VMS_AGENT_ANALYTICS_DETECTORS }
        : {}),
    })
    this.healthProbe = new HealthProbe({
      cameras: this.cameras,
      intervalMs: settings.VMS_AGENT_PROBE_INTERVAL_SECONDS * 1000,
      timeoutMs: settings.VMS_AGENT_CAMERA_TIMEOUT_MS,
      logger,
    })
    this.metrics = new AgentMetrics({
      cameras: () => this.metricsCameras(),
      disks: () => this.disks(),
      outbox: () => ({ depth: this.outbox.depth(), bytes: this.outbox.bytes() }),
    })
    this.deviceEvents = new DeviceEventManager({
      configKey: credentials.configKey,
      logger,
      // Also while stopping, like analytics: its stop ends the open starts (`closed`) and those
      // ends must reach the outbox; nothing comes after its stop, and the closed writer drops.
      write: (body, at) => this.writer.write('event', body, at),
      onMotion: (cameraId, active, at) => this.analytics.deviceMotion(cameraId, active, at),
    })
  }

  /** An event for the hub; never throws (it runs inside camera and live-view callbacks). */
  private event(e: { type: string; cameraId?: string; data?: Record<string, unknown> }): void {
    if (this.stopped) return
    this.writer.write('event', {
      type: e.type,
      ...(e.cameraId ? { cameraId: e.cameraId } : {}),
      data: e.data,
    })
  }

  get agentId(): string {
    return readCredentials(this.settings.VMS_AGENT_DATA_DIR).agentId
  }

  get connected(): boolean {
    return this.link.connected
  }

  start(): void {
    // Recording does not wait for the hub: the last applied configuration runs at once.
    void this.applyCameras(this.config.config)
    this.link.start()
    this.scheduleHeartbeat()
    void this.beat()
    this.healthProbe.start()
    void this.serveMetrics()
  }

  /** `GET /metrics` when a port is set; a port that cannot be had is logged, the agent runs on. */
  private async serveMetrics(): Promise<void> {
    const port = this.settings.VMS_AGENT_METRICS_PORT
    if (port === undefined) return
    try {
      const server = await startMetricsServer({
        host: this.settings.VMS_AGENT_METRICS_HOST,
        port,
        render: () => this.metrics.metrics(),
        contentType: this.metrics.contentType,
        logger: this.logger,
      })
      if (this.stopped) return void (await server.close())
      this.metricsServer = server
      this.logger.info({ host: server.host, port: server.port }, 'serving metrics at GET /metrics')
    } catch (err) {
      this.logger.error({ err }, 'metrics are not served')
    }
  }

  /** Each camera with its name, streams and last probe, for the metrics. */
  private metricsCameras() {
    return this.cameras.health().map((c) => {
      const probe = this.healthProbe.health(c.id)
      return {
        id: c.id,
        name: this.cameras.camera(c.id)?.name ?? c.id,
        streams: c.streams,
        ...(probe ? { probe } : {}),
      }
    })
  }

  /** The data and recordings disks (the same disk twice when they share one). */
  private async disks(): Promise<DiskSample[]> {
    const [data, recordings] = await Promise.all([
      diskSpace(this.settings.VMS_AGENT_DATA_DIR),
      diskSpace(this.settings.VMS_AGENT_RECORDINGS_DIR),
    ])
    return [
      ...(data ? [{ disk: 'data' as const, ...data }] : []),
      ...(recordings ? [{ disk: 'recordings' as const, ...recordings }] : []),
    ]
  }

  private scheduleHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = setInterval(() => void this.beat(), this.config.config.heartbeatSeconds * 1000)
    this.heartbeat.unref()
  }

  private async beat(): Promise<void> {
    if (this.stopped) return
    try {
      const sample = await healthSample({
        dataDir: this.settings.VMS_AGENT_DATA_DIR,
        outbox: this.outbox,
        startedAt: this.startedAt,
        version: AGENT_VERSION,
        configVersion: this.config.version,
        storage: this.writer.status(),
        rejected: this.link.rejected,
        cameras: this.cameraHealth(),
        recording: {
          bytes: this.index.totalBytes(),
          quotaBytes: this.quotaBytes ?? null,
          ...this.lockedUsage(),
        },
      })
      if (this.stopped) return // stopped while the sample was being taken
      this.writer.write('health', sample)
    } catch (err) {
      this.logger.warn({ err }, 'heartbeat failed')
    }
  }

  /**
   * A new disk quota for the recordings (null: none), in force at once without a restart:
   * retention runs with it now, and a heartbeat reports it to the hub.
   */
  setRecordingQuota(bytes: number | null): void {
    if (this.stopped) return
    this.quotaBytes = bytes ?? undefined
    this.cameras.setQuotaBytes(this.quotaBytes)
    this.logger.info({ quotaBytes: bytes }, 'recording disk quota changed')
    void this.beat()
  }

  /**
   * Cameras first (recording never waits for analytics), then the models the cameras name (their
   * downloads start and go on in the background), then the analytics that borrow the streams: a
   * camera whose model is still coming shows so in its status until `modelChanged`.
   */
  private async applyCameras(config: AgentConfig): Promise<void> {
    await this.cameras.apply(config.cameras)
    this.deviceEvents.apply(config.cameras)
    this.models.update(config.models)
    await this.queueAnalytics(() => this.analytics.apply(config.cameras))
  }

  /**
   * A model was installed (or failed to download): the cameras naming it whose analytics are in
   * error start again. The manager restarts a camera only when its configuration changes, so they
   * are taken out and put back; running cameras are left alone.
   */
  private modelChanged(id: string): void {
    void this.queueAnalytics(async () => {
      const cameras = this.config.config.cameras
      const health = this.analytics.health(cameras)
      const waiting = new Set(
        cameras
          .filter(
            (c) => c.analytics?.enabled && c.analytics.model === id && health.get(c.id)?.state === 'error',
          )
          .map((c) => c.id),
      )
      if (waiting.size === 0) return
      await this.analytics.apply(cameras.filter((c) => !waiting.has(c.id)))
      await this.analytics.apply(cameras)
    })
  }

  private queueAnalytics(task: () => Promise<void>): Promise<void> {
    const run = this.analyticsQueue.then(async () => {
      if (this.stopped) return
      try {
        await task()
      } catch (err) {
        this.logger.error({ err }, 'analytics could not apply the configuration')
      }
    })
    this.analyticsQueue = run
    return run
  }

  /** Each camera's streams, with its live view when someone watches it, and its analytics. */
  private cameraHealth() {
    const live = this.live.health()
    const cameras = this.config.config.cameras
    const analytics = this.analytics.health(cameras)
    const devices = this.deviceEvents.health(cameras)
    this.analytics.retention(cameras, (cameraId, ms) => this.index.isLockedAt(cameraId, ms))
    return this.cameras.health().map((c) => {
      const l = live.get(c.id)
      const a = analytics.get(c.id)
      const d = devices.get(c.id)
      const p = this.healthProbe.health(c.id)
      return {
        ...c,
        ...(l ? { live: l } : {}),
        ...(a ? { analytics: a } : {}),
        ...(d ? { device: d } : {}),
        ...(p ? { probe: p } : {}),
      }
    })
  }

  /**
   * Makes the recording index's locks those of the configuration (replace-all: a lock removed at
   * the hub is gone, one past its `until` by this agent's clock is left out), so retention keeps
   * their ranges whatever the quota. Never fatal: a failure is logged and the next configuration
   * or restart tries again; the locks already in the index stay.
   */
  private syncEvidenceLocks(config: AgentConfig): string | undefined {
    try {
      this.index.syncLocks(
        (config.evidenceLocks ?? []).map((l) => ({
          id: l.id,
          cameraIds: l.cameraIds,
          fromMs: Date.parse(l.from),
          toMs: Date.parse(l.to),
          untilMs: Date.parse(l.until),
        })),
      )
      return undefined
    } catch (err) {
      this.logger.error({ err }, 'could not apply the evidence locks to the recording index')
      return `evidence locks not applied: ${(err as Error).message ?? err}`.slice(0, 1000)
    }
  }

  /** For the heartbeat: what the locks in force hold (the hub alarms when it crowds the quota). */
  private lockedUsage(): { lockedBytes?: number; locks?: number } {
    try {
      const usage = this.index.lockedUsage()
      return { lockedBytes: usage.bytes, locks: usage.locks }
    } catch {
      return {}
    }
  }

  /** Applies a desired configuration newer than the one in force, persists it and reports it. */
  applyConfig(desired: DownConfig): void {
    if (desired.version <= this.config.version) return
    const previous = this.config
    this.config = { version: desired.version, config: desired.config }
    this.writer.setSetting('config', JSON.stringify(this.config))
    if (previous.config.heartbeatSeconds !== desired.config.heartbeatSeconds) this.scheduleHeartbeat()
    // Before the state is reported: the hub shows a lock `applied` once it reads this version.
    const lockError = this.syncEvidenceLocks(desired.config)
    void this.applyCameras(desired.config).then(() => this.live.camerasChanged())
    // A lock the index could not take is reported, and the hub shows the agent's locks pending.
    this.writer.write('state', {
      configVersion: desired.version,
      ...(lockError ? { configError: lockError } : {}),
    })
    const held = new Set((previous.config.evidenceLocks ?? []).map((l) => l.id))
    for (const l of desired.config.evidenceLocks ?? []) {
      if (held.has(l.id)) continue
      this.writer.write('audit', {
        action: 'evidence-lock.apply',
        outcome: 'success',
        actor: { type: 'system', name: 'agent' },
        target: { type: 'evidence_lock', id: l.id },
        details: {
          cameraIds: l.cameraIds,
          from: l.from,
          to: l.to,
          until: l.until,
          configVersion: desired.version,
        },
      })
    }
    this.writer.write('audit', {
      action: 'agent.config.apply',
      outcome: 'success',
      actor: { type: 'system', name: 'agent' },
      target: { type: 'agent_config', id: String(desired.version) },
      details: { from: previous.version, to: desired.version },
    })
    this.logger.info({ version: desired.version }, 'applied a new configuration')
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.devices.close() // a PTZ move still running is stopped now, not left to its timer
    // Before analytics stops: the device motion its ends close is flushed with the rest.
    this.deviceEvents.stop()
    await this.metricsServer?.close()
    await this.healthProbe.stop() // before the cameras: no verdict on a camera being stopped
    await this.live.stop()
    await this.models.stop()
    await this.analyticsQueue
    await this.analytics.stop()
    await this.cameras.stop()
    await this.link.stop()
    this.writer.flush() // last chance for what waits (a full disk may have room now)
    this.writer.close()
    this.closeDatabases()
  }

  /**
   * Closes the SQLite files at once (the last-resort path of `main`, when a graceful stop cannot be
   * trusted): every write is synchronous, so none is half done when this runs.
   */
  closeDatabases(): void {
    this.stopped = true
    this.writer.close()
    for (const db of [this.index, this.outbox]) {
      try {
        db.close()
      } catch {}
    }
  }
}
