import { PassThrough } from 'node:stream'
import { cleanJsonValue } from '@ts-vms/shared'
import { z } from 'zod'
import type { AuditEventRow } from '../../audit/chain.ts'
import { verifyAuditChains } from '../../audit/verify.ts'
import type { Tx } from '../../db/database.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { forbidden } from '../errors.ts'
import { page } from '../schemas.ts'

const auditEvent = z.object({
  id: z.string(),
  eventId: z.uuid(),
  time: z.iso.datetime(),
  tenantId: z.uuid(),
  seq: z.number().int(),
  actor: z.object({ type: z.string(), id: z.string().nullable(), name: z.string().nullable() }),
  action: z.string(),
  target: z.object({ type: z.string().nullable(), id: z.string().nullable() }),
  outcome: z.enum(['success', 'failure', 'denied']),
  reason: z.string().nullable(),
  clientIp: z.string().nullable(),
  userAgent: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
})

const auditQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  actor: z.string().max(200).optional().describe('actor id or name'),
  action: z.string().max(100).optional().describe('exact action, or a prefix ending in * (e.g. auth.*)'),
  target: z.string().max(200).optional().describe('target id'),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  tenantId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
})
type AuditQuery = z.infer<typeof auditQuery>

const verifyResult = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  firstBadId: z.string().optional(),
  reason: z.string().optional(),
  tenants: z.number().int(),
  quarantined: z
    .number()
    .int()
    .describe(
      'records this hub set aside because the database refused them (not in any chain; see /audit/quarantine)',
    ),
})

const quarantinedItem = z.object({
  eventId: z.string(),
  tenantId: z.string(),
  time: z.string(),
  action: z.string(),
  record: z.record(z.string(), z.unknown()).describe('the record, cleaned for display'),
  raw: z.string().describe('the record exactly as it was refused, as JSON text'),
  error: z.string(),
  quarantinedAt: z.string(),
})

type Row = AuditEventRow

function toDto(r: Row) {
  return {
    id: String(r.id),
    eventId: r.event_id,
    time: new Date(r.time).toISOString(),
    tenantId: r.tenant_id,
    seq: Number(r.seq),
    actor: { type: r.actor_type, id: r.actor_id, name: r.actor_name },
    action: r.action,
    target: { type: r.target_type, id: r.target_id },
    outcome: r.outcome,
    reason: r.reason,
    clientIp: r.client_ip,
    userAgent: r.user_agent,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  }
}

function where(q: AuditQuery): { sql: string; params: unknown[] } {
  const clauses: string[] = []
  const params: unknown[] = []
  if (q.tenantId) {
    clauses.push('tenant_id = ?')
    params.push(q.tenantId)
  }
  if (q.from) {
    clauses.push('time >= ?')
    params.push(q.from)
  }
  if (q.to) {
    clauses.push('time < ?')
    params.push(q.to)
  }
  if (q.actor) {
    clauses.push('(actor_id = ? or actor_name = ?)')
    params.push(q.actor, q.actor)
  }
  if (q.action) {
    if (q.action.endsWith('*')) {
      clauses.push("action like ? escape '\\'")
      params.push(`${q.action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    } else {
      clauses.push('action = ?')
      params.push(q.action)
    }
  }
  if (q.target) {
    clauses.push('target_id = ?')
    params.push(q.target)
  }
  if (q.outcome) {
    clauses.push('outcome = ?')
    params.push(q.outcome)
  }
  return { sql: clauses.length ? `where ${clauses.join(' and ')}` : '', params }
}

const CSV_COLUMNS = [
  'id',
  'time',
  'tenant_id',
  'seq',
  'actor_type',
  'actor_id',
  'actor_name',
  'action',
  'target_type',
  'target_id',
  'outcome',
  'reason',
  'client_ip',
  'user_agent',
  'details',
  'prev_hash',
  'hash',
] as const

/** RFC 4180 quoting, and a leading ' before =, +, -, @ so spreadsheets do not run cells as formulas. */
export function csvCell(value: unknown): string {
  let text =
    value === null || value === undefined
      ? ''
      : value instanceof Date
        ? value.toISOString()
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value)
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function registerAuditRoutes(api: Api, hub: HubContext): void {
  const assertReader = (p: Principal) => {
    if (!can(p, 'audit.read', { type: 'tenant', tenantId: p.tenantId })) throw forbidden()
  }
  /** Quarantined records the principal may read: their tenant's; system-admins' every one. */
  const quarantinedFor = (p: Principal) =>
    hub.audit.quarantine.list().filter((q) => p.isSystemAdmin || q.record.tenantId === p.tenantId)

  api.route({
    method: 'get',
    path: '/api/v1/audit',
    tag: 'audit',
    auth: 'user',
    summary: 'Search the audit trail (newest first); Accept: text/csv exports the matches as CSV',
    query: auditQuery,
    responses: {
      200: { description: 'Audit records', schema: page(auditEvent) },
    },
    async handler(ctx, { query, principal }) {
      assertReader(principal)
      const filter = where(query)
      const scope = scopeOf(principal)
      if (ctx.accepts('application/json', 'text/csv') === 'text/csv') {
        const out = new PassThrough()
        ctx.status = 200
        ctx.type = 'text/csv; charset=utf-8'
        ctx.set('Content-Disposition', 'attachment; filename="audit.csv"')
        ctx.body = out
        out.write(`${CSV_COLUMNS.join(',')}\r\n`)
        void (async () => {
          // Keyset pages: each a short transaction, so a large export never holds one open.
          let before: string | undefined
          let remaining = query.limit === 100 && !ctx.query.limit ? 1_000_000 : query.limit
          try {
            while (remaining > 0) {
              const clause = before ? `${filter.sql ? `${filter.sql} and` : 'where'} id < ?` : filter.sql
              const params = before ? [...filter.params, before] : filter.params
              const size = Math.min(1000, remaining)
              const rows: Row[] = await hub.db.withTenant(scope, (tx: Tx) =>
                tx.execute(`select * from audit_events ${clause} order by id desc limit ${size}`, params),
              )
              for (const r of rows) {
                out.write(`${CSV_COLUMNS.map((c) => csvCell(r[c])).join(',')}\r\n`)
              }
              remaining -= rows.length
              if (rows.length < size) break
              before = String(rows.at(-1)?.id)
            }
            out.end()
          } catch (err) {
            hub.logger.error({ err }, 'audit CSV export failed')
            out.destroy(err as Error)
          }
        })()
        await hub.audit.record({
          action: 'audit.export',
          outcome: 'success',
          tenantId: principal.tenantId,
          ...auditSource(ctx, principal),
          target: { type: 'audit', id: null },
          details: { format: 'csv', filter: { ...query, limit: undefined, offset: undefined } },
        })
        return
      }
      const { rows, total } = await hub.db.withTenant(scope, async (tx) => {
        const count: { n: string }[] = await tx.execute(
          `select count(*) as n from audit_events ${filter.sql}`,
          filter.params,
        )
        const page: Row[] = await tx.execute(
          `select * from audit_events ${filter.sql} order by id desc limit ${query.limit} offset ${query.offset}`,
          filter.params,
        )
        return { rows: page, total: Number(count[0]?.n ?? 0) }
      })
      ctx.body = { items: rows.map(toDto), total }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/audit/verify',
    tag: 'audit',
    auth: 'user',
    summary: "Verify the audit hash chains you can read (system-admins: every tenant's)",
    responses: { 200: { description: 'The verdict', schema: verifyResult } },
    async handler(ctx, { principal }) {
      assertReader(principal)
      const scope = scopeOf(principal)
      const result = await verifyAuditChains((work) => hub.db.withTenant(scope, work), hub.keys)
      ctx.body = { ...result, quarantined: quarantinedFor(principal).length }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/audit/quarantine',
    tag: 'audit',
    auth: 'user',
    summary:
      "Audit records this hub set aside because the database refused them (your tenant's; system-admins: all)",
    responses: {
      200: { description: 'Quarantined records, oldest first', schema: page(quarantinedItem) },
    },
    async handler(ctx, { principal }) {
      assertReader(principal)
      const items = quarantinedFor(principal).map((q) => ({
        eventId: String(q.record.eventId),
        tenantId: String(q.record.tenantId),
        time: String(q.record.time),
        action: String(q.record.action),
        // The raw record may hold what made the database refuse it (lone surrogates, NUL):
        // shown cleaned, and exactly as JSON text (which escapes them) for the evidence.
        record: cleanJsonValue(q.record, { keepLineBreaks: true, maxLength: 4096 }) as Record<
          string,
          unknown
        >,
        raw: JSON.stringify(q.record),
        error: q.error,
        quarantinedAt: q.at,
      }))
      ctx.body = { items, total: items.length }
    },
  })
}
