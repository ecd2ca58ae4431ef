import { randomUUID } from 'node:crypto'
import { cleanJsonValue, cleanText } from '@ts-vms/shared'
import type { AuditEvent } from './audit-log.ts'
import { canonicalJson } from './chain.ts'
import type { SpooledRecord } from './spool.ts'

const MAX_DETAILS_BYTES = 16 * 1024
/** Longest string kept inside details (the whole of details is bounded by bytes, too). */
const MAX_DETAIL_TEXT = 4096
/** Times PostgreSQL and the monthly partitions handle sanely; an agent may claim anything. */
const EARLIEST = Date.UTC(2000, 0, 1)
const LATEST_AHEAD_MS = 24 * 3600_000

/**
 * The audit boundary: whatever a client, a user or an agent put into an event, the record must be
 * storable, or one hostile string stops the database trail (PostgreSQL's text silently turns a lone
 * surrogate into U+FFFD, so the stored row no longer matches its hash; jsonb refuses lone
 * surrogates and the \u0000 escape outright). So lone surrogates become U+FFFD, NUL and other
 * control characters go, and the text is bounded without splitting a surrogate pair.
 */
function clean(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null
  return cleanText(String(value), { maxLength: max })
}

function cleanDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!details) return {}
  // Every key and string cleaned (line breaks kept: a reason or a note may have several lines),
  // then through canonical JSON and back: drops undefined, functions and other non-JSON, so what is
  // hashed is exactly what jsonb will return.
  const cleaned = cleanJsonValue(details, { maxLength: MAX_DETAIL_TEXT, keepLineBreaks: true })
  const text = canonicalJson(cleaned)
  if (Buffer.byteLength(text) > MAX_DETAILS_BYTES) return { truncated: true, bytes: Buffer.byteLength(text) }
  const parsed = JSON.parse(text) as unknown
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : {}
}

/**
 * The time a record is filed under: the event's own (an agent's record arriving late) when it is
 * plausible, else now, with the claim kept in details. A year PostgreSQL cannot parse (JavaScript
 * writes 10000 and later as "+010000-…") would make the record unwritable.
 */
function recordTime(event: AuditEvent, now: Date): { time: Date; claimed?: string } {
  const t = event.time?.getTime()
  if (t === undefined) return { time: now }
  if (Number.isNaN(t)) return { time: now, claimed: 'invalid' }
  if (t < EARLIEST || t > now.getTime() + LATEST_AHEAD_MS)
    return { time: now, claimed: (event.time as Date).toISOString() }
  return { time: new Date(t) }
}

/** An audit event as it is stored: bounded, with its own id and time, in its tenant's chain. */
export function toRecord(event: AuditEvent, defaultTenantId: string, now = new Date()): SpooledRecord {
  const { time, claimed } = recordTime(event, now)
  const details = cleanDetails(event.details)
  return {
    eventId: event.eventId ?? randomUUID(),
    tenantId: event.tenantId ?? defaultTenantId,
    time: time.toISOString(),
    actorType: event.actor.type,
    actorId: clean(event.actor.id, 200),
    actorName: clean(event.actor.name, 200),
    action: clean(event.action, 100) || 'unknown',
    targetType: clean(event.target?.type, 100),
    targetId: clean(event.target?.id, 200),
    outcome: event.outcome,
    reason: clean(event.reason, 500),
    clientIp: clean(event.clientIp, 64),
    userAgent: clean(event.userAgent, 500),
    details: claimed === undefined ? details : { ...details, claimedTime: claimed },
  }
}
