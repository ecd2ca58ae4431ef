import { randomUUID } from 'node:crypto'
import type { Context } from 'koa'
import { z } from 'zod'
import { lockRule } from '../../alarms/alarm-engine.ts'
import { ALARM_KINDS, checkParams, type RuleScope, ruleName, ruleScope } from '../../alarms/alarm-rule.ts'
import { type AlarmChange, activeAlarms, clear, type RuleRow, ruleOf } from '../../alarms/alarm-store.ts'
import { cameraResource, visibleCamera } from '../../cameras/camera-access.ts'
import type { Tx } from '../../db/database.ts'
import { pgTextArray } from '../../db/sql.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, canSee, type Resource } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { badRequest, forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery } from '../schemas.ts'
import { siteResource, visibleSite } from './sites.ts'

/**
 * Alarm rules (issue 16): `GET/POST/PATCH/DELETE /api/v1/alarm-rules`. A rule is managed with
 * `alarm.manage` on its scope (the tenant, a site, a camera) and read with `alarm.manage` or
 * `alarm.handle` there. Changing what a rule watches (scope, parameters, enabled) closes its open
 * alarms ("the rule changed"); the next evaluation opens what still holds under the new rule.
 * Creating, changing and deleting are audited.
 */
const channelIds = z.array(z.uuid()).max(20)
const priority = z.union([z.literal(1), z.literal(2), z.literal(3)])

const ruleCreate = z
  .object({
    name: ruleName,
    kind: z.enum(ALARM_KINDS),
    scope: ruleScope,
    params: z.record(z.string(), z.unknown()).default({}),
    priority,
    channels: channelIds.default([]),
    enabled: z.boolean().default(true),
  })
  .strict()

const ruleUpdate = z
  .object({
    name: ruleName.optional(),
    scope: ruleScope.optional(),
    params: z.record(z.string(), z.unknown()).optional(),
    priority: priority.optional(),
    channels: channelIds.optional(),
    enabled: z.boolean().optional(),
  })
  .strict()

export const alarmRule = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    name: z.string(),
    kind: z.enum(ALARM_KINDS),
    scope: z.object({ type: z.enum(['tenant', 'site', 'camera']), id: z.uuid().optional() }),
    params: z.record(z.string(), z.unknown()),
    priority: z.number().int().min(1).max(3),
    channels: z.array(z.uuid()),
    enabled: z.boolean(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'AlarmRule' })

const ruleQuery = paginationQuery.extend({
  kind: z.enum(ALARM_KINDS).optional(),
  siteId: z.uuid().optional().describe('Rules scoped to this site or one of its cameras'),
})

const ruleDto = (r: RuleRow) => {
  const rule = ruleOf(r)
  return {
    id: rule.id,
    tenantId: rule.tenantId,
    name: rule.name,
    kind: rule.kind,
    scope: rule.scope,
    params: rule.params,
    priority: rule.priority,
    channels: rule.channels,
    enabled: rule.enabled,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  }
}

/** The resource a scope is (its tenant resolved from the site or camera); 404 when not visible. */
async function scopeResource(tx: Tx, principal: Principal, scope: RuleScope): Promise<Resource> {
  if (scope.type === 'site') return siteResource(await visibleSite(tx, principal, scope.id))
  if (scope.type === 'camera') return cameraResource(await visibleCamera(tx, principal, scope.id))
  return { type: 'tenant', tenantId: principal.tenantId }
}

/** A stored rule's resource (its site or camera may have gone: then the tenant's). */
async function ruleResource(tx: Tx, r: RuleRow): Promise<Resource> {
  if (r.scope_type === 'site' && r.scope_id)
    return { type: 'site', tenantId: r.tenant_id, siteId: r.scope_id }
  if (r.scope_type === 'camera' && r.scope_id) {
    const rows: { site_id: string }[] = await tx.execute('select site_id from cameras where id = ?', [
      r.scope_id,
    ])
    if (rows[0])
      return { type: 'camera', tenantId: r.tenant_id, siteId: rows[0].site_id, cameraId: r.scope_id }
  }
  return { type: 'tenant', tenantId: r.tenant_id }
}

const mayRead = (p: Principal, r: Resource) =>
  canSee(p, r) && (can(p, 'alarm.manage', r) || can(p, 'alarm.handle', r))

async function checkChannels(tx: Tx, tenantId: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return
  const found: { id: string }[] = await tx.execute(
    'select id from notification_channels where tenant_id = ? and id in (?)',
    [tenantId, [...new Set(ids)]],
  )
  const known = new Set(found.map((f) => f.id))
  const missing = ids.filter((id) => !known.has(id))
  if (missing.length > 0)
    throw badRequest('the request is invalid', [
      { path: 'channels', message: `no such notification channel: ${missing.join(', ')}` },
    ])
}

function checkedParams(kind: (typeof ALARM_KINDS)[number], params: unknown): Record<string, unknown> {
  const checked = checkParams(kind, params)
  if (!checked.ok)
    throw badRequest(
      'the request is invalid',
      checked.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    )
  return checked.params
}

async function ruleById(tx: Tx, id: string): Promise<RuleRow | undefined> {
  const rows: RuleRow[] = await tx.execute('select * from alarm_rules where id = ?', [id])
  return rows[0]
}

/** Closes the rule's open and acknowledged alarms (it changed or went) and forgets its pending conditions. */
async function closeRuleAlarms(tx: Tx, r: RuleRow, why: string): Promise<AlarmChange[]> {
  await lockRule(tx, r.id)
  const changes: AlarmChange[] = []
  for (const alarm of await activeAlarms(tx, r.id)) {
    const change = await clear(tx, ruleOf(r), alarm, Date.now(), why)
    if (change) changes.push(change)
  }
  await tx.execute('delete from alarm_conditions where rule_id = ?', [r.id])
  return changes
}

export function registerAlarmRuleRoutes(api: Api, hub: HubContext): void {
  const audit = (
    ctx: Context,
    p: Principal,
    action: string,
    r: RuleRow,
    details: Record<string, unknown> = {},
  ) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: r.tenant_id,
      target: { type: 'alarm-rule', id: r.id },
      ...auditSource(ctx, p),
      details: { name: r.name, kind: r.kind, scope: ruleOf(r).scope, priority: r.priority, ...details },
    })

  api.route({
    method: 'post',
    path: '/api/v1/alarm-rules',
    tag: 'alarms',
    auth: 'user',
    summary: 'Create an alarm rule (needs alarm.manage on its scope)',
    description:
      "Kinds and parameters (defaults in brackets): camera.offline {seconds [60]}, recording.gap {seconds [10], quietSeconds [600]}, recording.stopped {seconds [60]}, disk.full {percent [90]}, retention.short {days [the camera's retention]}, outbox.backlog {seconds [300]}, clock.drift {seconds [2], forSeconds [30]}, agent.offline {seconds [120]}, license.expiring {days [14]}, object.zone {label, zone, schedule [always], loitering [false]}.",
    body: ruleCreate,
    responses: {
      201: { description: 'The rule', schema: alarmRule },
      400: { description: 'Invalid: a parameter, the scope or a channel' },
      403: { description: 'No alarm.manage on the scope' },
      404: { description: 'The scope (site or camera) does not exist or is not visible' },
    },
    async handler(ctx, { body, principal }) {
      const params = checkedParams(body.kind, body.params)
      const row = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const resource = await scopeResource(tx, principal, body.scope)
        if (!can(principal, 'alarm.manage', resource)) throw forbidden()
        await checkChannels(tx, resource.tenantId, body.channels)
        const id = randomUUID()
        await tx.execute(
          `insert into alarm_rules (id, tenant_id, name, kind, scope_type, scope_id, params, priority, channels, enabled, created_by)
           values (?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?::uuid[], ?, ?)`,
          [
            id,
            resource.tenantId,
            body.name,
            body.kind,
            body.scope.type,
            body.scope.type === 'tenant' ? null : body.scope.id,
            JSON.stringify(params),
            body.priority,
            pgTextArray(body.channels),
            body.enabled,
            principal.userId,
          ],
        )
        const made = await ruleById(tx, id)
        if (!made) throw notFound('alarm rule')
        return made
      })
      hub.alarms.rulesChanged(row.tenant_id)
      await audit(ctx, principal, 'alarm-rule.create', row)
      ctx.status = 201
      ctx.body = ruleDto(row)
      void hub.alarms.evaluate().catch(() => {})
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/alarm-rules',
    tag: 'alarms',
    auth: 'user',
    summary: 'Alarm rules the caller may read (alarm.manage or alarm.handle on their scope)',
    query: ruleQuery,
    responses: { 200: { description: 'Rules', schema: page(alarmRule) } },
    async handler(ctx, { query, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const where: string[] = []
        const args: unknown[] = []
        if (query.kind) {
          where.push('kind = ?')
          args.push(query.kind)
        }
        const rows: RuleRow[] = await tx.execute(
          `select * from alarm_rules ${where.length ? `where ${where.join(' and ')}` : ''} order by lower(name), id`,
          args,
        )
        const visible: RuleRow[] = []
        for (const r of rows) {
          const resource = await ruleResource(tx, r)
          if (!mayRead(principal, resource)) continue
          if (query.siteId && (resource.type === 'tenant' || resource.siteId !== query.siteId)) continue
          visible.push(r)
        }
        return {
          items: visible.slice(query.offset, query.offset + query.limit).map(ruleDto),
          total: visible.length,
        }
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/alarm-rules/:id',
    tag: 'alarms',
    auth: 'user',
    summary: 'One alarm rule',
    params: idParams,
    responses: {
      200: { description: 'The rule', schema: alarmRule },
      404: { description: 'No such rule (or not readable by the caller)' },
    },
    async handler(ctx, { params, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const r = await ruleById(tx, params.id)
        if (!r || !mayRead(principal, await ruleResource(tx, r))) throw notFound('alarm rule')
        return ruleDto(r)
      })
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/alarm-rules/:id',
    tag: 'alarms',
    auth: 'user',
    summary: 'Change an alarm rule (its kind stays); changing what it watches closes its alarms',
    params: idParams,
    body: ruleUpdate,
    responses: {
      200: { description: 'The rule', schema: alarmRule },
      400: { description: 'Invalid' },
      403: { description: 'No alarm.manage on its scope (old or new)' },
      404: { description: 'No such rule (or not visible)' },
    },
    async handler(ctx, { params, body, principal }) {
      const result = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const r = await ruleById(tx, params.id)
        if (!r) throw notFound('alarm rule')
        const resource = await ruleResource(tx, r)
        if (!mayRead(principal, resource)) throw notFound('alarm rule')
        if (!can(principal, 'alarm.manage', resource)) throw forbidden()
        if (body.scope) {
          const next = await scopeResource(tx, principal, body.scope)
          if (next.tenantId !== r.tenant_id) throw notFound(body.scope.type)
          if (!can(principal, 'alarm.manage', next)) throw forbidden()
        }
        if (body.channels) await checkChannels(tx, r.tenant_id, body.channels)
        const nextParams = body.params ? checkedParams(r.kind, body.params) : undefined
        const watchesOther =
          body.scope !== undefined ||
          nextParams !== undefined ||
          (body.enabled !== undefined && body.enabled !== r.enabled)
        const changes = watchesOther ? await closeRuleAlarms(tx, r, 'the rule changed') : []
        await tx.execute(
          `update alarm_rules set name = coalesce(?, name), scope_type = coalesce(?, scope_type),
             scope_id = case when ? then ? else scope_id end, params = coalesce(?::jsonb, params),
             priority = coalesce(?, priority), channels = coalesce(?::uuid[], channels),
             enabled = coalesce(?, enabled), updated_at = now()
           where id = ?`,
          [
            body.name ?? null,
            body.scope?.type ?? null,
            body.scope !== undefined,
            body.scope && body.scope.type !== 'tenant' ? body.scope.id : null,
            nextParams ? JSON.stringify(nextParams) : null,
            body.priority ?? null,
            body.channels ? pgTextArray(body.channels) : null,
            body.enabled ?? null,
            r.id,
          ],
        )
        if (body.priority !== undefined)
          await tx.execute(`update alarms set priority = ? where rule_id = ? and state <> 'closed'`, [
            body.priority,
            r.id,
          ])
        const updated = await ruleById(tx, r.id)
        if (!updated) throw notFound('alarm rule')
        return { updated, changes }
      })
      hub.alarms.rulesChanged(result.updated.tenant_id)
      await audit(ctx, principal, 'alarm-rule.update', result.updated, { changed: Object.keys(body) })
      await hub.alarms.publish(result.changes)
      ctx.body = ruleDto(result.updated)
      void hub.alarms.evaluate().catch(() => {})
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/alarm-rules/:id',
    tag: 'alarms',
    auth: 'user',
    summary: 'Delete an alarm rule; its open alarms close, its closed ones stay as history',
    params: idParams,
    responses: {
      204: { description: 'Deleted' },
      403: { description: 'No alarm.manage on its scope' },
      404: { description: 'No such rule (or not visible)' },
    },
    async handler(ctx, { params, principal }) {
      const result = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const r = await ruleById(tx, params.id)
        if (!r) throw notFound('alarm rule')
        const resource = await ruleResource(tx, r)
        if (!mayRead(principal, resource)) throw notFound('alarm rule')
        if (!can(principal, 'alarm.manage', resource)) throw forbidden()
        const changes = await closeRuleAlarms(tx, r, 'the rule was deleted')
        await tx.execute('delete from alarm_rules where id = ?', [r.id])
        return { r, changes }
      })
      hub.alarms.rulesChanged(result.r.tenant_id)
      await audit(ctx, principal, 'alarm-rule.delete', result.r)
      await hub.alarms.publish(result.changes)
      ctx.status = 204
    },
  })
}
