import type { BlockList } from 'node:net'
import type { SecretBox } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { AgentDirectory } from './agents/agent-directory.ts'
import type { AgentRequests } from './agents/agent-requests.ts'
import type { AgentIngest } from './agents/ingest.ts'
import type { Presence } from './agents/presence.ts'
import type { AlarmEngine } from './alarms/alarm-engine.ts'
import type { DurableAuditLog } from './audit/durable-audit-log.ts'
import type { AuditPartitions } from './audit/partitions.ts'
import type { AccessTokens } from './auth/access-tokens.ts'
import type { AuthService } from './auth/auth-service.ts'
import type { Mailer } from './auth/mailer.ts'
import type { PasswordHasher } from './auth/password-hasher.ts'
import type { SigningKeyStore } from './auth/signing-keys.ts'
import type { ExportStore } from './cameras/export-store.ts'
import type { HubConfig } from './config/config.ts'
import type { Database, TenantScope } from './db/database.ts'
import type { Licensing } from './license/licensing.ts'
import type { LiveObjectsRelay } from './live/live-objects.ts'
import type { LiveSessions } from './live/live-sessions.ts'
import type { UpdateBus } from './live-updates/update-bus.ts'
import type { AgentBus } from './mqtt/agent-bus.ts'
import type { BrokerTls } from './mqtt/tls-cert.ts'
import type { NotificationKicker } from './notifications/notification-dispatcher.ts'
import type { HubMetrics } from './observability/metrics.ts'
import type { RateLimits } from './ratelimit/rate-limits.ts'
import type { Principal } from './rbac/principal.ts'
import type { PrincipalCache } from './rbac/principal-cache.ts'

/** The hub's services, as route modules see them. */
export interface HubContext {
  config: HubConfig
  logger: Logger
  db: Database
  hasher: PasswordHasher
  keys: SigningKeyStore
  tokens: AccessTokens
  auth: AuthService
  audit: DurableAuditLog
  auditPartitions: AuditPartitions
  metrics: HubMetrics
  limits: RateLimits
  /** Principals by user, kept true by the database's change announcements (issue 17). */
  principals: PrincipalCache
  licensing: Licensing
  /** Secrets at rest (camera passwords, signing keys) under the master key. */
  secrets: SecretBox
  /** Export uploads between the agent's delivery and the user's download. */
  exports: ExportStore
  agents: {
    bus: AgentBus
    directory: AgentDirectory
    presence: Presence
    ingest: AgentIngest
    requests: AgentRequests
    /** The broker certificate agents pin (embedded broker with TLS). */
    tls: BrokerTls | undefined
    /** The MQTT URL to give enrolling agents, who reached the hub as `requestHost`. */
    publicUrl(requestHost: string): string
  }
  /** Live view sessions and the relay's upstreams. */
  live: LiveSessions
  /** The live overlay's objects, from agents to the consoles following a camera. */
  liveObjects: LiveObjectsRelay
  /** Fleet alarms: rule evaluation and the transitions people make (issue 16). */
  alarms: AlarmEngine
  /** What changed, for the consoles watching `GET /api/v1/stream`. */
  updates: UpdateBus
  /** Mail out (SMTP when VMS_SMTP_URL is set, else the log). */
  mailer: Mailer
  /** Alarm notifications: `kick()` after committing queued deliveries (issue 16). */
  notifications: NotificationKicker
  trustedProxies: BlockList | undefined
  systemTenantId: string
  version: string
}

/** The database scope a principal's requests run in. */
export function scopeOf(principal: Principal): TenantScope {
  return { tenantId: principal.tenantId, crossTenant: principal.isSystemAdmin }
}
