import type { Logger } from 'pino'

/**
 * Security-relevant actions (logins, token reuse, user and role changes, ...). Every privileged
 * action goes through `record`, so the sink can grow (a hash-chained table with disk failover)
 * without touching the callers. `details` must never hold secrets.
 */
export interface AuditEvent {
  action: string
  outcome: 'success' | 'failure' | 'denied'
  tenantId?: string | null
  actor: { type: 'user' | 'agent' | 'system'; id?: string | null; name?: string | null }
  target?: { type: string; id?: string | null }
  clientIp?: string | null
  userAgent?: string | null
  reason?: string
  details?: Record<string, unknown>
  /** When it happened, if not now (e.g. an agent's record arriving late). */
  time?: Date
  /**
   * A stable id for a record that may be submitted more than once (an agent's record redelivered
   * after an outage): the trail keeps the first and skips the others.
   */
  eventId?: string
}

export interface AuditLog {
  /** Resolves once the record is durable (committed to the database or fsynced to the spool). */
  record(event: AuditEvent): Promise<void>
}

/** Mirrors audit events into the structured log (tagged `audit: true`) for log pipelines. */
export function logAuditEvent(logger: Logger, event: AuditEvent): void {
  const level = event.outcome === 'success' ? 'info' : 'warn'
  logger[level]({ audit: true, ...event }, event.action)
}
