import { randomUUID } from 'node:crypto'
import type { AuditEvent } from './audit-log.ts'
import { canonicalJson } from './chain.ts'
import type { SpooledRecord } from './spool.ts'

const MAX_DETAILS_BYTES = 16 * 1024

/** Postgres text cannot hold NUL; everything else is kept, bounded. */
function clean(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null
  return value.replace(/\0/g, '').slice(0, max)
}

function cleanDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!details) return {}
  // Through canonical JSON and back: drops undefined, functions and other non-JSON, and strips NUL
  // (which jsonb refuses), so what is hashed is exactly what the database will return.
  const text = canonicalJson(details).replace(/\\u0000/g, '')
  if (Buffer.byteLength(text) > MAX_DETAILS_BYTES) return { truncated: true, bytes: Buffer.byteLength(text) }
  return JSON.parse(text) as Record<string, unknown>
}

/** An audit event as it is stored: bounded, with its own id and time, in its tenant's chain. */
export function toRecord(event: AuditEvent, defaultTenantId: string, now = new Date()): SpooledRecord {
  const time = event.time && !Number.isNaN(event.time.getTime()) ? event.time : now
  return {
    eventId: event.eventId ?? randomUUID(),
    tenantId: event.tenantId ?? defaultTenantId,
    time: new Date(time.getTime()).toISOString(),
    actorType: event.actor.type,
    actorId: clean(event.actor.id, 200),
    actorName: clean(event.actor.name, 200),
    action: clean(event.action, 100) ?? 'unknown',
    targetType: clean(event.target?.type, 100),
    targetId: clean(event.target?.id, 200),
    outcome: event.outcome,
    reason: clean(event.reason, 500),
    clientIp: clean(event.clientIp, 64),
    userAgent: clean(event.userAgent, 500),
    details: cleanDetails(event.details),
  }
}
