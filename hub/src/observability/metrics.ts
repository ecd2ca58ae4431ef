import type { Logger } from 'pino'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Database } from '../db/database.ts'

/** One site's health, from the latest heartbeats of its agents (issue 14). */
export interface SiteHealth {
  tenantId: string
  siteId: string
  siteName: string
  /** Cameras in the latest heartbeats of the site's agents. */
  cameras: number
  /** Of those, on online agents, with a stream streaming. */
  streaming: number
  /** Of those, on online agents, whose last health probe failed. */
  unreachable: number
  agentsOnline: number
  /** Sums over the site's agents (their last reported values). */
  outboxDepth: number
  diskFreeBytes: number
  recordingBytes: number
}

/**
 * Every site with its agents' latest heartbeats summed, in one statement (the cameras' arrays are
 * expanded in the database, not shipped to the hub). Revoked agents do not count; an offline agent's
 * last heartbeat counts for its cameras, outbox and disk (the last known values) but never as
 * streaming or unreachable now.
 */
export const SITE_HEALTH_SQL = `
  select s.tenant_id, s.id as site_id, s.name as site_name,
         coalesce(a.agents_online, 0) as agents_online,
         coalesce(a.outbox_depth, 0) as outbox_depth,
         coalesce(a.disk_free, 0) as disk_free,
         coalesce(a.recording_bytes, 0) as recording_bytes,
         coalesce(c.cameras, 0) as cameras,
         coalesce(c.streaming, 0) as streaming,
         coalesce(c.unreachable, 0) as unreachable
    from sites s
    left join (
      select site_id,
             count(*) filter (where status = 'online') as agents_online,
             sum(coalesce((last_health->'outbox'->>'depth')::numeric, 0)) as outbox_depth,
             sum(coalesce((last_health->'disk'->>'freeBytes')::numeric, 0)) as disk_free,
             sum(coalesce((last_health->'recording'->>'bytes')::numeric, 0)) as recording_bytes
        from agents
       where revoked_at is null
       group by site_id
    ) a on a.site_id = s.id
    left join (
      select ag.site_id,
             count(*) as cameras,
             count(*) filter (
               where ag.status = 'online'
                 and exists (
                   select 1 from jsonb_array_elements(
                     case when jsonb_typeof(cam->'streams') = 'array' then cam->'streams' else '[]'::jsonb end
                   ) st where st->>'state' = 'streaming')
             ) as streaming,
             count(*) filter (
               where ag.status = 'online' and cam->'probe'->>'reachable' = 'false'
             ) as unreachable
        from agents ag
        cross join lateral jsonb_array_elements(
          case when jsonb_typeof(ag.last_health->'cameras') = 'array' then ag.last_health->'cameras' else '[]'::jsonb end
        ) cam
       where ag.revoked_at is null
       group by ag.site_id
    ) c on c.site_id = s.id`

/** The sites' health as the database has it (counts and sums come back as strings from pg). */
export async function siteHealth(db: Database): Promise<SiteHealth[]> {
  const rows: Record<string, string | number>[] = await db.withSystem((tx) => tx.execute(SITE_HEALTH_SQL))
  return rows.map((r) => ({
    tenantId: String(r.tenant_id),
    siteId: String(r.site_id),
    siteName: String(r.site_name),
    cameras: Number(r.cameras),
    streaming: Number(r.streaming),
    unreachable: Number(r.unreachable),
    agentsOnline: Number(r.agents_online),
    outboxDepth: Number(r.outbox_depth),
    diskFreeBytes: Number(r.disk_free),
    recordingBytes: Number(r.recording_bytes),
  }))
}

/** A query's result is shared by the gauges of one scrape (and any scrape within this long). */
const SITE_HEALTH_REUSE_MS = 1000

/** Prometheus metrics of one hub instance (own registry: tests run several hubs in one process). */
export class HubMetrics {
  readonly registry = new Registry()

  readonly httpRequests = new Counter({
    name: 'vms_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  })

  readonly httpDuration = new Histogram({
    name: 'vms_http_request_duration_seconds',
    help: 'HTTP request duration by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })

  readonly logins = new Counter({
    name: 'vms_auth_logins_total',
    help: 'Login attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly refreshReuse = new Counter({
    name: 'vms_auth_refresh_token_reuse_total',
    help: 'Rotated refresh tokens presented again (each revoked its family)',
    registers: [this.registry],
  })

  readonly rateLimitRejections = new Counter({
    name: 'vms_rate_limit_rejections_total',
    help: 'Requests answered 429, by limiter',
    labelNames: ['limiter'] as const,
    registers: [this.registry],
  })

  /** Live sessions and relay upstreams; their source is set once the live service exists. */
  liveSource: { sessions: () => number; upstreams: () => number } | undefined

  readonly liveSessions = new Gauge({
    name: 'vms_live_sessions',
    help: 'Live-view sessions open on this hub',
    registers: [this.registry],
    collect: () => {
      if (this.liveSource) this.liveSessions.set(this.liveSource.sessions())
    },
  })

  readonly liveUpstreams = new Gauge({
    name: 'vms_live_upstreams',
    help: 'Relay upstreams from agents open on this hub (one per camera watched)',
    registers: [this.registry],
    collect: () => {
      if (this.liveSource) this.liveUpstreams.set(this.liveSource.upstreams())
    },
  })

  readonly rateLimitDegraded = new Gauge({
    name: 'vms_rate_limit_degraded',
    help: '1 while Redis is unreachable and limits are held in this instance’s memory',
    registers: [this.registry],
  })

  readonly rateLimitFallbacks = new Counter({
    name: 'vms_rate_limit_fallback_total',
    help: 'Rate-limit decisions taken in memory because Redis failed',
    registers: [this.registry],
  })

  readonly auditWritten = new Counter({
    name: 'vms_audit_records_written_total',
    help: 'Audit records committed to the database',
    registers: [this.registry],
  })

  readonly auditSpooled = new Counter({
    name: 'vms_audit_records_spooled_total',
    help: 'Audit records written to the disk spool because the database could not take them',
    registers: [this.registry],
  })

  readonly auditSpooling = new Gauge({
    name: 'vms_audit_spooling',
    help: '1 while audit records go to the disk spool',
    registers: [this.registry],
  })

  /** The audit log's backlog; its source is set once the audit log exists. */
  auditSource: { spooledCount: () => number; quarantinedCount: () => number } | undefined

  readonly auditSpooledRecords = new Gauge({
    name: 'vms_audit_spooled_records',
    help: 'Audit records waiting in the disk spool for the database (alarm when above 0 for long)',
    registers: [this.registry],
    collect: () => {
      if (this.auditSource) this.auditSpooledRecords.set(this.auditSource.spooledCount())
    },
  })

  readonly auditQuarantinedRecords = new Gauge({
    name: 'vms_audit_quarantined_records',
    help: 'Audit records set aside on this hub because the database refused them (alarm when above 0)',
    registers: [this.registry],
    collect: () => {
      if (this.auditSource) this.auditQuarantinedRecords.set(this.auditSource.quarantinedCount())
    },
  })

  readonly auditQuarantined = new Counter({
    name: 'vms_audit_quarantined_records_total',
    help: 'Audit records quarantined by this process because the database refused them',
    registers: [this.registry],
  })

  readonly mqttMessages = new Counter({
    name: 'vms_mqtt_messages_total',
    help: 'Messages received from agents, by topic kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })

  readonly mqttRejected = new Counter({
    name: 'vms_mqtt_rejected_total',
    help: 'Agent messages or operations refused, by reason (malformed, invalid, oversize, acl, ...)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  readonly ingestStored = new Counter({
    name: 'vms_ingest_stored_total',
    help: 'Agent outbox messages committed, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  })

  readonly ingestCommitLag = new Histogram({
    name: 'vms_ingest_commit_lag_seconds',
    help: "Agent batches from the agent's publication (its sentAt) to their commit, by whether the batch held a heartbeat",
    labelNames: ['health'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  })

  readonly notificationsDelivered = new Counter({
    name: 'vms_notifications_delivered_total',
    help: 'Notification deliveries that succeeded, by channel type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  })

  readonly notificationsFailed = new Counter({
    name: 'vms_notifications_failed_total',
    help: 'Notification delivery attempts that failed (retried or dead), by channel type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  })

  /** Alarms not closed, per state and priority (issue 16); set once the database is there. */
  alarmSource: { counts: () => Promise<{ state: string; priority: number; n: number }[]> } | undefined

  /** Collects the alarm gauges of one state from the one query of a scrape. */
  private alarmGauge(name: string, help: string, state: string): Gauge<string> {
    const metrics = this
    return new Gauge({
      name,
      help,
      labelNames: ['priority'] as const,
      registers: [this.registry],
      async collect() {
        const source = metrics.alarmSource
        if (!source) return
        try {
          const rows = await source.counts()
          for (const p of ['1', '2', '3']) this.set({ priority: p }, 0)
          for (const r of rows) if (r.state === state) this.set({ priority: String(r.priority) }, r.n)
        } catch {
          // keep the previous values rather than fail the scrape
        }
      },
    })
  }

  readonly alarmsOpen = this.alarmGauge(
    'vms_alarms_open',
    'Alarms open (not yet acknowledged), by priority (1 highest)',
    'open',
  )
  readonly alarmsAcknowledged = this.alarmGauge(
    'vms_alarms_acknowledged',
    'Alarms acknowledged and not closed, by priority',
    'acknowledged',
  )

  /** Where the dead-letter count comes from; set once the database is there. */
  notificationSource: { dead: () => Promise<number> } | undefined

  readonly notificationsDead = (() => {
    const metrics = this
    return new Gauge({
      name: 'vms_notifications_dead',
      help: 'Notification deliveries dead after their last attempt, waiting for a retry by hand',
      registers: [this.registry],
      async collect() {
        const source = metrics.notificationSource
        if (!source) return
        try {
          this.set(await source.dead())
        } catch {
          // keep the previous value rather than fail the scrape
        }
      },
    })
  })()

  /** Where the per-site gauges come from; set once the database is there. */
  siteSource: { query: () => Promise<SiteHealth[]>; logger: Logger } | undefined
  private siteQuery:
    | { at: number; source: NonNullable<HubMetrics['siteSource']>; rows: Promise<SiteHealth[] | undefined> }
    | undefined

  /**
   * The sites' health for the gauges of one scrape: one query, shared. Undefined when it failed
   * (logged): the gauges then keep their previous values rather than failing the scrape.
   */
  private siteRows(): Promise<SiteHealth[] | undefined> {
    const source = this.siteSource
    if (!source) return Promise.resolve(undefined)
    const now = Date.now()
    const last = this.siteQuery
    if (last && last.source === source && now - last.at < SITE_HEALTH_REUSE_MS) return last.rows
    const rows = source.query().catch((err: unknown) => {
      source.logger.warn({ err }, 'site metrics could not be read; keeping the previous values')
      return undefined
    })
    this.siteQuery = { at: now, source, rows }
    return rows
  }

  private siteGauge(name: string, help: string, value: (s: SiteHealth) => number): Gauge<string> {
    const metrics = this
    return new Gauge({
      name,
      help,
      labelNames: ['tenant', 'site', 'site_name'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await metrics.siteRows()
        if (!rows) return
        this.reset() // a deleted site leaves no stale series
        for (const s of rows)
          this.set({ tenant: s.tenantId, site: s.siteId, site_name: s.siteName }, value(s))
      },
    })
  }

  readonly siteCameras = this.siteGauge(
    'vms_site_cameras',
    "Cameras in the latest heartbeats of the site's agents",
    (s) => s.cameras,
  )
  readonly siteCamerasStreaming = this.siteGauge(
    'vms_site_cameras_streaming',
    'Cameras of the site with a stream streaming (online agents)',
    (s) => s.streaming,
  )
  readonly siteCamerasUnreachable = this.siteGauge(
    'vms_site_cameras_unreachable',
    'Cameras of the site whose last health probe failed (online agents)',
    (s) => s.unreachable,
  )
  readonly siteAgentsOnline = this.siteGauge(
    'vms_site_agents_online',
    'Agents of the site online',
    (s) => s.agentsOnline,
  )
  readonly siteOutboxDepth = this.siteGauge(
    'vms_site_outbox_depth',
    "Records waiting in the site's agents' outboxes (last reported)",
    (s) => s.outboxDepth,
  )
  readonly siteDiskFree = this.siteGauge(
    'vms_site_disk_free_bytes',
    "Free bytes on the site's agents' data disks (last reported)",
    (s) => s.diskFreeBytes,
  )
  readonly siteRecordingBytes = this.siteGauge(
    'vms_site_recording_bytes',
    "Bytes of recordings on the site's agents (last reported)",
    (s) => s.recordingBytes,
  )

  constructor() {
    this.registry.setDefaultLabels({ service: 'ts-vms-hub' })
    collectDefaultMetrics({ register: this.registry, prefix: 'vms_hub_' })
  }
}
