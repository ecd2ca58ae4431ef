import { createHash } from 'node:crypto'

/**
 * The audit hash chain. Each tenant is one chain: record n carries `prev_hash` = hash of record
 * n-1 (64 zeros for the first) and `hash` = SHA-256 over the canonical encoding of the record
 * including `prev_hash`. Canonical encoding: JSON with object keys sorted, no insignificant white
 * space, timestamps as ISO-8601 with milliseconds (what Postgres and JS both keep exactly), so the
 * hash can be recomputed from the stored row alone.
 */
export const GENESIS_HASH = '0'.repeat(64)
export const CHAIN_VERSION = 1

export interface ChainRecord {
  eventId: string
  tenantId: string
  seq: number
  time: Date
  actorType: 'user' | 'agent' | 'system'
  actorId: string | null
  actorName: string | null
  action: string
  targetType: string | null
  targetId: string | null
  outcome: 'success' | 'failure' | 'denied'
  reason: string | null
  clientIp: string | null
  userAgent: string | null
  details: Record<string, unknown>
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
    return JSON.stringify(value) ?? 'null'
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`
  if (value instanceof Date) return JSON.stringify(value.toISOString())
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

export function recordHash(record: ChainRecord, prevHash: string): string {
  const body = canonicalJson({
    v: CHAIN_VERSION,
    eventId: record.eventId,
    tenantId: record.tenantId,
    seq: record.seq,
    time: record.time.toISOString(),
    actor: { type: record.actorType, id: record.actorId, name: record.actorName },
    action: record.action,
    target: { type: record.targetType, id: record.targetId },
    outcome: record.outcome,
    reason: record.reason,
    clientIp: record.clientIp,
    userAgent: record.userAgent,
    details: record.details,
    prevHash,
  })
  return createHash('sha256').update(body, 'utf8').digest('hex')
}

/** An audit_events row as Postgres returns it. */
export interface AuditEventRow {
  id: string
  event_id: string
  tenant_id: string
  seq: string
  time: Date
  actor_type: ChainRecord['actorType']
  actor_id: string | null
  actor_name: string | null
  action: string
  target_type: string | null
  target_id: string | null
  outcome: ChainRecord['outcome']
  reason: string | null
  client_ip: string | null
  user_agent: string | null
  details: Record<string, unknown>
  prev_hash: string
  hash: string
}
