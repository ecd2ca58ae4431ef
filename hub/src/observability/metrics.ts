import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

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

  constructor() {
    this.registry.setDefaultLabels({ service: 'ts-vms-hub' })
    collectDefaultMetrics({ register: this.registry, prefix: 'vms_hub_' })
  }
}
