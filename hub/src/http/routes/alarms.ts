import { cleanText } from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { alarmResource, lockRule } from '../../alarms/alarm-engine.ts'
import { ALARM_KINDS } from '../../alarms/alarm-rule.ts'
import {
  type AlarmChange,
  type AlarmRow,
  acknowledge,
  alarmDto,
  closeByHand,
  ruleById,
} from '../../alarms/alarm-store.ts'
import type { Tx } from '../../db/database.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, canSee } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { notFound } from '../errors.ts'
import { idParams, page, paginationQuery } from '../schemas.ts'

/**
 * Alarms (issue 16): `GET /api/v1/alarms`, `POST /api/v1/alarms/{id}/acknowledge` and `/close`.
 * Seen and handled with `alarm.handle` on what the alarm is about: its camera (a camera or site
 * grant), its agent's site (a site grant) or the tenant (a tenant grant). The transitions are
 * audited (by the engine's `publish`) and notify the rule's channels.
 */
export const alarm = z
  .object({
    id: z.uuid(),
    ruleId: z.uuid().nullable(),
    kind: z.enum(ALARM_KINDS),
    priority: z.number().int().min(1).max(3),
    state: z.enum(['open', 'acknowledged', 'closed']),
    siteId: z.uuid().nullable(),
    agentId: z.uuid().nullable(),
    cameraId: z.uuid().nullable(),
    openedAt: z.iso.datetime(),
    lastSeenAt: z.iso.datetime(),
    count: z.number().int(),
    acknowledgedBy: z.uuid().nullable(),
    acknowledgedAt: z.iso.datetime().nullable(),
    closedAt: z.iso.datetime().nullable(),
    details: z.record(z.string(), z.unknown()),
    tenantId: z.uuid(),
    target: z.string(),
    acknowledgedByName: z.string().nullable(),
    acknowledgeComment: z.string().nullable(),
    closedBy: z.uuid().nullable(),
    closeComment: z.string().nullable(),
    clearedAt: z.iso.datetime().nullable(),
    ruleName: z.string().nullable(),
    siteName: z.string().nullable(),
    cameraName: z.string().nullable(),
    agentName: z.string().nullable(),
  })
  .meta({ id: 'Alarm' })

const states = ['open', 'acknowledged', 'closed'] as const
const alarmQuery = paginationQuery.extend({
  state: z
    .string()
    .max(64)
    .transform((v) => v.split(','))
    .pipe(z.array(z.enum([...states, 'active'])))
    .optional()
    .describe('open, acknowledged, closed, or several comma-separated; `active`: open and acknowledged'),
  siteId: z.uuid().optional(),
  cameraId: z.uuid().optional(),
  priority: z.coerce.number().int().min(1).max(3).optional(),
  kind: z.enum(ALARM_KINDS).optional(),
})

const comment = z
  .object({
    comment: z
      .string()
      .max(2000, { abort: true })
      .transform((v) => cleanText(v, { maxLength: 2000, keepLineBreaks: true }).trim())
      .nullable()
      .optional(),
  })
  .strict()

interface NamedAlarmRow extends AlarmRow {
  rule_name: string | null
  site_name: string | null
  camera_name: string | null
  agent_name: string | null
}

const SELECT = `select a.*, r.name as rule_name, s.name as site_name, c.name as camera_name, g.name as agent_name
  from alarms a
  left join alarm_rules r on r.id = a.rule_id
  left join sites s on s.id = a.site_id
  left join cameras c on c.id = a.camera_id
  left join agents g on g.id = a.agent_id`

const dto = (r: NamedAlarmRow) => ({
  ...alarmDto(r),
  ruleName: r.rule_name,
  siteName: r.site_name,
  cameraName: r.camera_name,
  agentName: r.agent_name,
})

/**
 * Where the caller may handle alarms, as SQL over the alarms table `a`: everything of the tenant
 * (tenant grant), else the sites and cameras of their grants that carry `alarm.handle`.
 */
function handleScope(p: Principal): { sql: string; args: unknown[] } | 'all' | 'none' {
  if (p.isSystemAdmin) return 'all'
  const grants = p.grants.filter((g) => g.permissions.has('alarm.handle'))
  if (grants.some((g) => g.scope.type === 'tenant')) return 'all'
  const siteIds = grants.flatMap((g) => (g.scope.type === 'site' && g.scope.siteId ? [g.scope.siteId] : []))
  const cameraIds = grants.flatMap((g) =>
    g.scope.type === 'camera' && g.scope.cameraId ? [g.scope.cameraId] : [],
  )
  const parts: string[] = []
  const args: unknown[] = []
  if (siteIds.length > 0) {
    parts.push('a.site_id in (?)')
    args.push(siteIds)
  }
  if (cameraIds.length > 0) {
    // A camera grant: that camera's alarms, attributed to its own site.
    parts.push('(a.camera_id in (?) and a.site_id = c.site_id)')
    args.push(cameraIds)
  }
  if (parts.length === 0) return 'none'
  return { sql: `(${parts.join(' or ')})`, args }
}

const mayHandle = (p: Principal, a: AlarmRow) => {
  const r = alarmResource(a)
  return canSee(p, r) && can(p, 'alarm.handle', r)
}

async function alarmById(tx: Tx, id: string): Promise<NamedAlarmRow | undefined> {
  const rows: NamedAlarmRow[] = await tx.execute(`${SELECT} where a.id = ?`, [id])
  return rows[0]
}

export function registerAlarmRoutes(api: Api, hub: HubContext): void {
  const transition = async (
    ctx: Context,
    principal: Principal,
    id: string,
    text: string | null | undefined,
    act: typeof acknowledge,
  ) => {
    const change = await hub.db.withTenant(scopeOf(principal), async (tx) => {
      const found = await alarmById(tx, id)
      if (!found || !mayHandle(principal, found)) throw notFound('alarm')
      if (found.rule_id) await lockRule(tx, found.rule_id)
      const rule = await ruleById(tx, found.rule_id)
      const change: AlarmChange | undefined = await act(
        tx,
        rule,
        found,
        { userId: principal.userId, username: principal.username },
        text ? text : null,
      )
      return change
    })
    if (change) await hub.alarms.publish([change])
    const now = await hub.db.withTenant(scopeOf(principal), (tx) => alarmById(tx, id))
    if (!now) throw notFound('alarm')
    ctx.body = dto(now)
  }

  api.route({
    method: 'get',
    path: '/api/v1/alarms',
    tag: 'alarms',
    auth: 'user',
    summary: 'Alarms the caller may handle (alarm.handle), newest first',
    description: 'Open and acknowledged first when no state is asked for, then by priority and time.',
    query: alarmQuery,
    responses: {
      200: {
        description: 'Alarms, with the count of open ones among those the caller may handle',
        schema: page(alarm).extend({ open: z.number().int() }),
      },
    },
    async handler(ctx, { query, principal }) {
      const scope = handleScope(principal)
      if (scope === 'none') {
        ctx.body = { items: [], total: 0, open: 0 }
        return
      }
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const where: string[] = []
        const args: unknown[] = []
        if (scope !== 'all') {
          where.push(scope.sql)
          args.push(...scope.args)
        }
        const base = [...where]
        const baseArgs = [...args]
        if (query.state) {
          const wanted = new Set(
            query.state.flatMap((s) => (s === 'active' ? ['open', 'acknowledged'] : [s])),
          )
          where.push('a.state in (?)')
          args.push([...wanted])
        }
        for (const [column, value] of [
          ['a.site_id', query.siteId],
          ['a.camera_id', query.cameraId],
          ['a.priority', query.priority],
          ['a.kind', query.kind],
        ] as const) {
          if (value === undefined) continue
          where.push(`${column} = ?`)
          args.push(value)
        }
        const filter = where.length ? `where ${where.join(' and ')}` : ''
        const [counted]: { n: number }[] = await tx.execute(
          `select count(*)::int as n from alarms a left join cameras c on c.id = a.camera_id ${filter}`,
          args,
        )
        const [open]: { n: number }[] = await tx.execute(
          `select count(*)::int as n from alarms a left join cameras c on c.id = a.camera_id
            where ${[...base, `a.state = 'open'`].join(' and ')}`,
          baseArgs,
        )
        const rows: NamedAlarmRow[] = await tx.execute(
          `${SELECT} ${filter}
           order by (a.state = 'closed'), (a.state = 'acknowledged'), a.priority, a.last_seen_at desc, a.id
           limit ? offset ?`,
          [...args, query.limit, query.offset],
        )
        return { items: rows.map(dto), total: counted?.n ?? 0, open: open?.n ?? 0 }
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/alarms/:id',
    tag: 'alarms',
    auth: 'user',
    summary: 'One alarm',
    params: idParams,
    responses: {
      200: { description: 'The alarm', schema: alarm },
      404: { description: 'No such alarm (or the caller may not handle it)' },
    },
    async handler(ctx, { params, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const found = await alarmById(tx, params.id)
        if (!found || !mayHandle(principal, found)) throw notFound('alarm')
        return dto(found)
      })
    },
  })

  for (const [action, act, summary] of [
    [
      'acknowledge',
      acknowledge,
      'Acknowledge an open alarm, with a comment (an acknowledged or closed one is returned as it is)',
    ],
    [
      'close',
      closeByHand,
      'Close an alarm by hand, with a comment (if its condition still holds, a new alarm opens)',
    ],
  ] as const)
    api.route({
      method: 'post',
      path: `/api/v1/alarms/:id/${action}`,
      tag: 'alarms',
      auth: 'user',
      summary,
      params: idParams,
      body: comment,
      responses: {
        200: { description: 'The alarm', schema: alarm },
        404: { description: 'No such alarm (or the caller may not handle it)' },
      },
      async handler(ctx, { params, body, principal }) {
        await transition(ctx, principal, params.id, body.comment, act)
      },
    })
}
