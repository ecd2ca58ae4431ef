import { readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { SecretBox } from '@ts-vms/shared'
import type { Redis } from 'ioredis'
import type { DestinationStream, Logger } from 'pino'
import { AgentDirectory } from './agents/agent-directory.ts'
import { AgentRequests } from './agents/agent-requests.ts'
import { startHealthHistoryRetention } from './agents/health-history.ts'
import { AgentIngest } from './agents/ingest.ts'
import { Presence } from './agents/presence.ts'
import { AlarmEngine } from './alarms/alarm-engine.ts'
import { DurableAuditLog } from './audit/durable-audit-log.ts'
import { startAuditMaintenance } from './audit/maintenance.ts'
import { AuditPartitions } from './audit/partitions.ts'
import { AuditSpool } from './audit/spool.ts'
import { AccessTokens } from './auth/access-tokens.ts'
import { AuthService } from './auth/auth-service.ts'
import { LogMailer, type Mailer, SmtpMailer } from './auth/mailer.ts'
import { PasswordHasher } from './auth/password-hasher.ts'
import { SigningKeyStore } from './auth/signing-keys.ts'
import { ExportStore } from './cameras/export-store.ts'
import type { HubConfig } from './config/config.ts'
import { parseTrustedProxies } from './config/trusted-proxies.ts'
import { loadMasterKey } from './crypto/master-key.ts'
import { Database } from './db/database.ts'
import { type EmbeddedPostgres, startEmbeddedPostgres } from './db/embedded-postgres.ts'
import { PrincipalChangeListener } from './db/principal-change-listener.ts'
import { createApp } from './http/app.ts'
import type { HubContext } from './hub-context.ts'
import { FrigateBridge } from './integrations/frigate-bridge.ts'
import { loadTrustedKeys } from './license/license-format.ts'
import { Licensing } from './license/licensing.ts'
import { liveAccessCheck } from './live/live-access.ts'
import { LiveObjectsRelay } from './live/live-objects.ts'
import { LiveSessions } from './live/live-sessions.ts'
import { UpdateBus } from './live-updates/update-bus.ts'
import type { AgentBus } from './mqtt/agent-bus.ts'
import { EmbeddedBroker } from './mqtt/embedded-broker.ts'
import { ExternalBroker } from './mqtt/external-broker.ts'
import { loadBrokerTls } from './mqtt/tls-cert.ts'
import { isUploadRequest, limitConnectionsPerAddress, limitRequestBodyTime } from './net/connection-limits.ts'
import { NotificationDispatcher } from './notifications/notification-dispatcher.ts'
import { createLogger } from './observability/logger.ts'
import { HubMetrics } from './observability/metrics.ts'
import { MemoryRateLimitStore } from './ratelimit/memory-store.ts'
import { RateLimits } from './ratelimit/rate-limits.ts'
import { connectRedis, untilReady } from './ratelimit/redis-client.ts'
import { RedisRateLimitStore } from './ratelimit/redis-store.ts'
import { ResilientRateLimitStore } from './ratelimit/resilient-store.ts'
import { PrincipalCache, parsePrincipalChange } from './rbac/principal-cache.ts'
import { type BootstrapResult, bootstrap } from './services/bootstrap.ts'

export interface StartHubOptions {
  config: HubConfig
  /** A Redis client to use instead of connecting to VMS_REDIS_URL (tests share one between hubs). */
  redis?: Redis
  /** Where logs go (tests capture them); stdout by default. */
  logDestination?: DestinationStream
  logger?: Logger
}

export interface RunningHub {
  url: string
  context: HubContext
  bootstrap: BootstrapResult
  /** Set when the hub runs its own embedded Postgres. */
  embedded?: EmbeddedPostgres
  /** Open HTTP connections from this client address (tests, diagnostics). */
  connectionsFrom(address: string): number
  close(): Promise<void>
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string
    }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

/** Opens the database the configuration names, or the embedded one in the data dir. */
export async function openDatabase(
  config: HubConfig,
  logger: Logger,
): Promise<{ db: Database; embedded?: EmbeddedPostgres }> {
  let embedded: EmbeddedPostgres | undefined
  let poolMax = config.VMS_DATABASE_POOL_MAX
  if (!config.VMS_DATABASE_URL) {
    embedded = await startEmbeddedPostgres(config.VMS_DATA_DIR)
    poolMax = embedded.poolMax
    logger.info({ dataDir: config.VMS_DATA_DIR }, 'using the embedded PostgreSQL (PGlite)')
  }
  try {
    const db = await Database.open({
      ...(embedded ? { connection: embedded.connection } : { url: config.VMS_DATABASE_URL }),
      poolMax,
      logger,
    })
    return { db, ...(embedded ? { embedded } : {}) }
  } catch (err) {
    await embedded?.close()
    throw err
  }
}

/**
 * The principal cache and what keeps it true: this hub's own changes arrive as notices on its
 * pooled sessions; on a shared PostgreSQL, everyone else's by LISTEN (until that connection is up,
 * and whenever it is down, nothing is served from the cache). PGlite (embedded, or served to tests
 * by URL) is one session serving one hub, so its notices are the whole story.
 */
async function startPrincipalCache(
  config: HubConfig,
  db: Database,
  embedded: EmbeddedPostgres | undefined,
  logger: Logger,
): Promise<{ cache: PrincipalCache; close(): Promise<void> }> {
  const cache = new PrincipalCache({
    maxEntries: config.VMS_PRINCIPAL_CACHE_MAX,
    maxAgeMs: config.VMS_PRINCIPAL_CACHE_SECONDS * 1000,
  })
  if (config.VMS_PRINCIPAL_CACHE_SECONDS === 0) {
    cache.suspend()
    return { cache, close: async () => {} }
  }
  const unsubscribe = db.onPrincipalChange((payload) => cache.invalidate(parsePrincipalChange(payload)))
  if (embedded || (await db.servedByPglite())) return { cache, close: async () => unsubscribe() }
  cache.suspend()
  const listener = await PrincipalChangeListener.start({
    connection: config.VMS_DATABASE_URL ?? '',
    logger,
    onChange: (payload) => cache.invalidate(parsePrincipalChange(payload)),
    onUp: () => cache.resume(),
    onDown: () => cache.suspend(),
  })
  return {
    cache,
    close: async () => {
      unsubscribe()
      await listener.close()
    },
  }
}

export async function startHub(options: StartHubOptions): Promise<RunningHub> {
  const { config } = options
  const logger = options.logger ?? createLogger(config.VMS_LOG_LEVEL, options.logDestination)
  const masterKey = loadMasterKey(config.VMS_DATA_DIR, config.VMS_MASTER_KEY)
  const box = new SecretBox(masterKey.key)
  const { db, embedded } = await openDatabase(config, logger)
  const closers: (() => Promise<void> | void)[] = [() => db.close(), () => embedded?.close()]
  const closeAll = async () => {
    for (const close of closers.splice(0)) await close()
  }
  try {
    if (config.VMS_MIGRATE_ON_START) await db.migrateUp()
    const hasher = new PasswordHasher({
      memoryKiB: config.VMS_ARGON2_MEMORY_KIB,
      timeCost: config.VMS_ARGON2_TIME_COST,
      parallelism: config.VMS_ARGON2_PARALLELISM,
    })
    const boot = await bootstrap(db, hasher, {
      dataDir: config.VMS_DATA_DIR,
      adminPassword: config.VMS_BOOTSTRAP_ADMIN_PASSWORD,
      logger,
    })
    const keys = new SigningKeyStore(db, box, {
      tokenTtlSeconds: config.VMS_ACCESS_TOKEN_TTL_SECONDS,
      refreshSeconds: config.VMS_SIGNING_KEY_REFRESH_SECONDS,
      logger,
    })
    await keys.init()
    const metrics = new HubMetrics()
    const limitsLogger = logger.child({ component: 'ratelimit' })
    const memoryLimits = new MemoryRateLimitStore()
    closers.push(() => memoryLimits.close())
    let redis = options.redis
    if (!redis && config.VMS_REDIS_URL) {
      const client = connectRedis(config.VMS_REDIS_URL, limitsLogger)
      closers.push(() => client.disconnect())
      if (!(await untilReady(client, 3000))) {
        limitsLogger.warn('Redis is not reachable yet: starting with rate limits in memory')
      }
      redis = client
    }
    const limitStore = redis
      ? new ResilientRateLimitStore(
          new RedisRateLimitStore(redis, config.VMS_REDIS_KEY_PREFIX),
          memoryLimits,
          limitsLogger,
          {
            degraded: (on) => metrics.rateLimitDegraded.set(on ? 1 : 0),
            fallback: () => metrics.rateLimitFallbacks.inc(),
          },
        )
      : memoryLimits
    const limits = new RateLimits(
      limitStore,
      {
        loginFailuresPerUser: config.VMS_LOGIN_MAX_FAILURES_PER_USER,
        loginFailuresPerIp: config.VMS_LOGIN_MAX_FAILURES_PER_IP,
        loginWindowSeconds: config.VMS_LOGIN_WINDOW_SECONDS,
        apiPerMinute: config.VMS_API_RATE_PER_MINUTE,
        passwordResetsPerHour: config.VMS_PASSWORD_RESET_PER_HOUR,
        passwordResetsPerHourPerIp: config.VMS_PASSWORD_RESET_PER_HOUR_PER_IP,
        enrollmentsPerHourPerIp: config.VMS_ENROLL_PER_HOUR_PER_IP,
      },
      (limiter) => metrics.rateLimitRejections.inc({ limiter }),
    )
    const principals = await startPrincipalCache(config, db, embedded, logger)
    closers.unshift(() => principals.close())
    const auditPartitions = new AuditPartitions(db)
    const audit = new DurableAuditLog({
      db,
      spool: new AuditSpool(path.join(config.VMS_DATA_DIR, 'audit-spool')),
      partitions: auditPartitions,
      logger: logger.child({ component: 'audit' }),
      systemTenantId: boot.systemTenantId,
      dbTimeoutMs: config.VMS_AUDIT_DB_TIMEOUT_MS,
      metrics: {
        written: (n) => metrics.auditWritten.inc(n),
        spooled: (n) => metrics.auditSpooled.inc(n),
        spooling: (on) => metrics.auditSpooling.set(on ? 1 : 0),
        quarantined: (n) => metrics.auditQuarantined.inc(n),
      },
    })
    metrics.auditSource = audit
    closers.unshift(() => audit.close())
    const maintenance = startAuditMaintenance({
      db,
      keys,
      audit,
      partitions: auditPartitions,
      logger: logger.child({ component: 'audit' }),
      checkpointSeconds: config.VMS_AUDIT_CHECKPOINT_SECONDS,
      retentionDays: config.VMS_AUDIT_RETENTION_DAYS,
    })
    closers.unshift(() => maintenance.stop())
    const healthRetention = startHealthHistoryRetention({
      db,
      logger: logger.child({ component: 'agents' }),
      days: config.VMS_HEALTH_HISTORY_DAYS,
    })
    closers.unshift(() => healthRetention.stop())
    let mailer: Mailer
    if (config.VMS_SMTP_URL) {
      const smtp = new SmtpMailer(config.VMS_SMTP_URL, config.VMS_SMTP_FROM)
      closers.unshift(() => smtp.close())
      mailer = smtp
    } else {
      mailer = new LogMailer(logger.child({ component: 'mail' }))
    }
    const tokens = new AccessTokens(keys, {
      issuer: config.VMS_JWT_ISSUER ?? config.VMS_PUBLIC_URL ?? 'ts-vms-hub',
      audience: config.VMS_JWT_AUDIENCE,
      ttlSeconds: config.VMS_ACCESS_TOKEN_TTL_SECONDS,
    })
    const auth = new AuthService(
      {
        db,
        hasher,
        tokens,
        mailer,
        audit,
        logger,
        limits,
        metrics: {
          login: (outcome) => metrics.logins.inc({ outcome }),
          refreshReuse: () => metrics.refreshReuse.inc(),
        },
      },
      {
        refreshTtlSeconds: config.VMS_REFRESH_TOKEN_TTL_SECONDS,
        resetTtlSeconds: config.VMS_PASSWORD_RESET_TTL_SECONDS,
        publicUrl: config.VMS_PUBLIC_URL,
      },
    )
    closers.unshift(() => auth.idle())
    const licensing = new Licensing(loadTrustedKeys(config.VMS_LICENSE_PUBLIC_KEYS ?? []))
    const licenseLogger = logger.child({ component: 'license' })
    const licenseTick = () =>
      licensing
        .tick(db, licenseLogger)
        .catch((err: unknown) => licenseLogger.debug({ err }, 'license tick failed'))
    void licenseTick()
    const licenseTimer = setInterval(licenseTick, 3600_000)
    licenseTimer.unref()
    closers.unshift(() => clearInterval(licenseTimer))
    const agentLogger = logger.child({ component: 'agents' })
    const directory = new AgentDirectory(db)
    const mqttTls =
      config.VMS_MQTT_URL || !config.VMS_MQTT_TLS
        ? undefined
        : await loadBrokerTls(config.VMS_DATA_DIR, config.VMS_MQTT_TLS_CERT, config.VMS_MQTT_TLS_KEY)
    const bus: AgentBus = config.VMS_MQTT_URL
      ? await ExternalBroker.connect({
          url: config.VMS_MQTT_URL,
          sharedGroup: config.VMS_MQTT_SHARED_GROUP,
          logger: agentLogger,
        })
      : await EmbeddedBroker.start({
          host: config.VMS_MQTT_HOST ?? config.VMS_HTTP_HOST,
          port: config.VMS_MQTT_PORT,
          ...(mqttTls ? { tls: mqttTls } : {}),
          auth: directory,
          logger: agentLogger,
          onRejected: (reason) => metrics.mqttRejected.inc({ reason }),
          connectTimeoutMs: config.VMS_MQTT_CONNECT_TIMEOUT_MS,
          maxConnectionsPerAddress: config.VMS_MQTT_MAX_CONNECTIONS_PER_IP,
        })
    let live: LiveSessions | undefined
    const updates = new UpdateBus()
    const presence = new Presence(
      db,
      audit,
      agentLogger,
      (agentId, online) => {
        if (!online) void live?.endForAgent(agentId, 'agent offline')
      },
      updates,
    )
    presence.start()
    const requests = new AgentRequests(bus, agentLogger)
    closers.unshift(() => requests.close())
    live = new LiveSessions({
      requests,
      audit,
      logger: logger.child({ component: 'live' }),
      iceServers: config.VMS_ICE_SERVERS,
      hostAddresses: config.VMS_LIVE_HOST_ADDRESSES,
      portRange: config.VMS_LIVE_PORT_RANGE,
      upstreamLingerMs: config.VMS_LIVE_UPSTREAM_LINGER_MS,
      recheckSeconds: config.VMS_LIVE_RECHECK_SECONDS,
      maxSessions: config.VMS_LIVE_MAX_SESSIONS,
      requestTimeoutMs: config.VMS_LIVE_REQUEST_TIMEOUT_MS,
      recheck: liveAccessCheck(db, boot.systemTenantId),
      onEnded: (s, reason) =>
        updates.publish({
          type: 'live',
          viewer: { userId: s.viewer.userId },
          data: { sessionId: s.id, cameraId: s.camera.id, reason },
        }),
    })
    const liveSessions = live
    metrics.liveSource = {
      sessions: () => liveSessions.sessionCount,
      upstreams: () => liveSessions.upstreamCount,
    }
    closers.unshift(() => liveSessions.close())
    // Frigate compatibility (issue 13): object events republished Frigate-style. Closed after ingest
    // has finished (closers run first to last; ingest's is put in front of this one below).
    const frigate = config.VMS_FRIGATE_MQTT_URL
      ? new FrigateBridge({
          url: config.VMS_FRIGATE_MQTT_URL,
          topicPrefix: config.VMS_FRIGATE_TOPIC_PREFIX,
          logger,
          db,
        })
      : undefined
    if (frigate) {
      frigate.start()
      closers.unshift(() => frigate.close())
    }
    const alarms = new AlarmEngine({
      db,
      audit,
      logger: logger.child({ component: 'alarms' }),
      updates,
      // Made below; woken only after a commit, by which time it exists.
      notifications: { kick: () => notifications.kick() },
    })
    const liveObjects = new LiveObjectsRelay({ db, logger })
    const ingest = new AgentIngest({
      liveObjects,
      db,
      bus,
      directory,
      presence,
      audit,
      box,
      requests,
      logger: agentLogger,
      updates,
      onFeatures: (agentId, features) => live?.setAgentFeatures(agentId, features),
      onObjectEvent: (e) => {
        frigate?.publishObjectEvent(e)
        alarms.onObjectEvent(e.agent, e.cameraId, e.data)
      },
      onEvent: (agent, type, data, cameraId) => {
        if (type === 'recording.gap' && cameraId && typeof data.durationMs === 'number')
          alarms.onRecordingGap(agent, cameraId, data.durationMs)
        if (type === 'live.peer.closed' && typeof data.peerId === 'string')
          void live?.endByAgentPeer(
            agent.id,
            data.peerId,
            String(data.reason ?? 'viewer connection ended'),
            typeof data.track === 'number' ? data.track : undefined,
          )
      },
      metrics: {
        received: (kind) => metrics.mqttMessages.inc({ kind }),
        rejected: (reason) => metrics.mqttRejected.inc({ reason }),
        stored: (type, n) => metrics.ingestStored.inc({ type }, n),
        committed: (seconds, health) =>
          metrics.ingestCommitLag.observe({ health: health ? 'true' : 'false' }, seconds),
      },
    })
    // Shutdown: no new traffic, then let what is in hand finish before audit and database close.
    closers.unshift(async () => {
      presence.stop()
      await bus.close()
      await ingest.idle()
      await presence.idle()
      await alarms.close()
    })
    alarms.start(config.VMS_ALARM_EVAL_MS)
    metrics.alarmSource = {
      counts: () =>
        db.withSystem((tx) =>
          tx.execute(
            `select state, priority, count(*)::int as n from alarms where state <> 'closed' group by state, priority`,
          ),
        ),
    }
    bus.onMessage((m) => ingest.handle(m))
    bus.onPresence((agentId, connected) => {
      if (!connected) {
        presence
          .set(agentId, false, 'disconnected')
          .catch((err: unknown) => agentLogger.warn({ err, agentId }, 'presence update failed'))
      }
    })
    const brokerPort = bus instanceof EmbeddedBroker ? bus.port : undefined
    const publicMqttUrl = (requestHost: string) => {
      if (config.VMS_MQTT_PUBLIC_URL) return config.VMS_MQTT_PUBLIC_URL
      if (config.VMS_MQTT_URL) {
        const u = new URL(config.VMS_MQTT_URL)
        return `${u.protocol}//${u.host}`
      }
      const host =
        requestHost.includes(':') && !requestHost.startsWith('[') ? `[${requestHost}]` : requestHost
      return `${mqttTls ? 'mqtts' : 'mqtt'}://${host}:${brokerPort}`
    }
    // Alarm notifications: deliveries left by a previous run are taken at once (issue 16).
    const notifications = new NotificationDispatcher({
      db,
      box,
      mailer,
      logger: logger.child({ component: 'notifications' }),
      maxAttempts: config.VMS_NOTIFY_MAX_ATTEMPTS,
      retryBaseMs: config.VMS_NOTIFY_RETRY_BASE_MS,
      pollMs: config.VMS_NOTIFY_POLL_MS,
      timeoutMs: config.VMS_WEBHOOK_TIMEOUT_MS,
      allowPrivate: config.VMS_WEBHOOK_ALLOW_PRIVATE,
      metrics: {
        delivered: (type) => metrics.notificationsDelivered.inc({ type }),
        failed: (type) => metrics.notificationsFailed.inc({ type }),
      },
    })
    metrics.notificationSource = {
      dead: async () =>
        db.withSystem(async (tx) => {
          const rows: { n: number }[] = await tx.execute(
            "select count(*)::int as n from notification_deliveries where state = 'dead'",
          )
          return rows[0]?.n ?? 0
        }),
    }
    closers.unshift(() => notifications.close())
    notifications.start()
    const context: HubContext = {
      config,
      logger,
      db,
      hasher,
      keys,
      tokens,
      auth,
      audit,
      auditPartitions,
      metrics,
      limits,
      principals: principals.cache,
      licensing,
      secrets: box,
      exports: new ExportStore(path.join(config.VMS_DATA_DIR, 'exports')),
      agents: { bus, directory, presence, ingest, requests, tls: mqttTls, publicUrl: publicMqttUrl },
      live: liveSessions,
      liveObjects,
      alarms,
      updates,
      mailer,
      notifications,
      trustedProxies: parseTrustedProxies(config.VMS_TRUST_PROXY),
      systemTenantId: boot.systemTenantId,
      version: packageVersion(),
    }
    const app = createApp(context)
    const headersTimeout = config.VMS_HTTP_HEADERS_TIMEOUT_MS
    const server = http.createServer(
      {
        headersTimeout,
        // Node's whole-request deadline is one value for every route: the uploads' (the longest).
        // Other routes get the short body deadline below.
        requestTimeout: Math.max(config.VMS_HTTP_UPLOAD_TIMEOUT_MS, headersTimeout),
        // How often Node checks those deadlines (30 s by default, longer than the deadline itself).
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
      },
      app.callback(),
    )
    const httpLogger = logger.child({ component: 'http' })
    limitRequestBodyTime(server, {
      bodyMs: config.VMS_HTTP_BODY_TIMEOUT_MS,
      longBodyMs: config.VMS_HTTP_UPLOAD_TIMEOUT_MS,
      isLongBody: isUploadRequest,
      onTimeout: (req) =>
        httpLogger.info(
          { method: req.method, address: req.socket.remoteAddress },
          'request body not received in time; connection closed',
        ),
    })
    const httpConnections = limitConnectionsPerAddress(server, {
      max: config.VMS_HTTP_MAX_CONNECTIONS_PER_IP,
      // A trusted reverse proxy carries many clients' connections.
      ...(context.trustedProxies ? { exempt: context.trustedProxies } : {}),
      onRefused: (address) =>
        httpLogger.debug({ address }, 'too many connections from this address; refused'),
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(`VMS_HTTP_PORT: ${config.VMS_HTTP_HOST}:${config.VMS_HTTP_PORT} is already in use`)
            : err,
        ),
      )
      server.listen(config.VMS_HTTP_PORT, config.VMS_HTTP_HOST, () => resolve())
    })
    closers.unshift(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        }),
    )
    const address = server.address() as AddressInfo
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    const url = `http://${host}:${address.port}`
    logger.info({ url, publicUrl: config.VMS_PUBLIC_URL ?? url }, 'hub listening')
    return {
      url,
      context,
      bootstrap: boot,
      ...(embedded ? { embedded } : {}),
      connectionsFrom: (address) => httpConnections.count(address),
      close: closeAll,
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}
