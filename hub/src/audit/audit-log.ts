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
}

export interface AuditLog {
  record(event: AuditEvent): Promise<void>
}

/** Writes audit events as structured log lines tagged `audit: true`. */
export class LogAuditLog implements AuditLog {
  constructor(private readonly logger: Logger) {}

  async record(event: AuditEvent): Promise<void> {
    const level = event.outcome === 'success' ? 'info' : 'warn'
    this.logger[level]({ audit: true, ...event }, event.action)
  }
}
