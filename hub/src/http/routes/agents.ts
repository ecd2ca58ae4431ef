import { randomUUID } from 'node:crypto'
import { agentConfig } from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { desiredConfig, publishDesiredConfig, redactConfig } from '../../agents/config-sync.ts'
import { hashEnrollmentCode, newEnrollmentCode } from '../../agents/enrollment.ts'
import { agentConfigKey } from '../../cameras/camera-streams.ts'
import type { Tx } from '../../db/database.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { type AdminChange, agentChange, cameraChange } from '../../live-updates/update-bus.ts'
import { newAgentSecret } from '../../mqtt/agent-secrets.ts'
import { can, canSee, canSeeWholeSite, visibility } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import { lockTenant } from '../../services/admin-guard.ts'
import type { Api } from '../api.ts'
import { auditSource, clientMeta } from '../authenticate.ts'
import { forbidden, gone, HttpError, notFound } from '../errors.ts'
import { idParams, page, paginationQuery } from '../schemas.ts'
import { registerAgentHealthRoutes } from './agent-health.ts'
import { visibleSite } from './sites.ts'

const agent = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  siteId: z.uuid(),
  name: z.string(),
  hostname: z.string().nullable(),
  version: z.string().nullable(),
  status: z.enum(['online', 'offline', 'disabled', 'revoked']),
  disabled: z.boolean(),
  revokedAt: z.iso.datetime().nullable(),
  lastSeenAt: z.iso.datetime().nullable(),
  ackedSeq: z.number().int(),
  health: z.record(z.string(), z.unknown()).nullable(),
  reportedState: z.record(z.string(), z.unknown()).nullable(),
  configVersion: z.number().int(),
  appliedConfigVersion: z.number().int().nullable(),
  createdAt: z.iso.datetime(),
})

interface AgentRow {
  id: string
  tenant_id: string
  site_id: string
  name: string
  hostname: string | null
  version: string | null
  status: 'online' | 'offline'
  disabled: boolean
  revoked_at: Date | null
  last_seen_at: Date | null
  acked_seq: string
  last_health: Record<string, unknown> | null
  reported_state: Record<string, unknown> | null
  desired_config: Record<string, unknown>
  config_version: number
  applied_config_version: number | null
  created_at: Date
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null)

/**
 * What of an agent's reports the principal may see. An agent serves every camera of its site, so
 * its health lists them all: someone who sees only some cameras (a camera-scoped binding) gets
 * the agent's own figures and only those cameras; its configuration error, free text that may
 * name any camera, only whoever sees the whole site.
 */
function reportsFor(p: Principal, r: AgentRow) {
  const site = siteResource(r)
  if (canSeeWholeSite(p, site)) return { health: r.last_health, reportedState: r.reported_state }
  const sees = (cameraId: unknown) =>
    typeof cameraId === 'string' && canSee(p, { ...site, type: 'camera', cameraId })
  const cameras = r.last_health?.cameras
  const health = r.last_health
    ? {
        ...r.last_health,
        ...(Array.isArray(cameras)
          ? { cameras: cameras.filter((c: { id?: unknown } | null) => sees(c?.id)) }
          : {}),
      }
    : null
  const { configError: _error, ...reportedState } = r.reported_state ?? {}
  return { health, reportedState: r.reported_state ? reportedState : null }
}

function agentDto(r: AgentRow, p: Principal) {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    siteId: r.site_id,
    name: r.name,
    hostname: r.hostname,
    version: r.version,
    status: r.revoked_at ? ('revoked' as const) : r.disabled ? ('disabled' as const) : r.status,
    disabled: r.disabled,
    revokedAt: iso(r.revoked_at),
    lastSeenAt: iso(r.last_seen_at),
    ackedSeq: Number(r.acked_seq),
    ...reportsFor(p, r),
    configVersion: r.config_version,
    appliedConfigVersion: r.applied_config_version,
    createdAt: iso(r.created_at) as string,
  }
}

const siteResource = (r: { tenant_id: string; site_id: string }) => ({
  type: 'site' as const,
  tenantId: r.tenant_id,
  siteId: r.site_id,
})

export async function visibleAgent(tx: Tx, p: Principal, id: string): Promise<AgentRow> {
  const [row]: AgentRow[] = await tx.execute('select * from agents where id = ?', [id])
  if (!row || !canSee(p, siteResource(row))) throw notFound('agent')
  return row
}

const enrollBody = z
  .object({
    code: z.string().min(8).max(64),
    name: z.string().trim().min(1).max(200).optional(),
    hostname: z.string().trim().max(255).optional(),
    version: z.string().trim().max(64).optional(),
  })
  .strict()

const enrollResponse = z.object({
  agentId: z.uuid(),
  mqttUrl: z.string(),
  secret: z.string(),
  caFingerprint: z.string().nullable(),
  caCertificate: z.string().nullable().describe('the broker certificate the fingerprint belongs to (PEM)'),
  configKey: z.string().describe('base64 key that opens the secrets (camera passwords) in the configuration'),
  siteId: z.uuid(),
  tenantId: z.uuid(),
})

export function registerAgentRoutes(api: Api, hub: HubContext): void {
  registerAgentHealthRoutes(api, hub)
  /** Records an administrator's change, and tells the consoles watching the agent's site. */
  const audit = async (
    ctx: Context,
    p: Principal,
    action: AdminChange & `agent.${string}`,
    r: { id: string; tenant_id: string; site_id: string; name: string },
    details?: Record<string, unknown>,
  ) => {
    await hub.audit.record({
      action,
      outcome: 'success',
      tenantId: r.tenant_id,
      ...auditSource(ctx, p),
      target: { type: 'agent', id: r.id },
      details: { name: r.name, ...details },
    })
    announce(action, r)
  }
  const announce = (change: AdminChange, r: { id: string; tenant_id: string; site_id: string }) =>
    hub.updates.publish(agentChange({ id: r.id, tenantId: r.tenant_id, siteId: r.site_id }, change))

  api.route({
    method: 'post',
    path: '/api/v1/sites/:id/enrollments',
    tag: 'agents',
    auth: 'user',
    summary: 'A one-time code (24 hours) with which an agent enrolls into this site',
    params: idParams,
    responses: {
      201: {
        description: 'The code, shown once',
        schema: z.object({ code: z.string(), expiresAt: z.iso.datetime(), siteId: z.uuid() }),
      },
    },
    async handler(ctx, { params, principal }) {
      const { code, hash } = newEnrollmentCode()
      const ttl = hub.config.VMS_ENROLLMENT_TTL_SECONDS
      const created = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const site = await visibleSite(tx, principal, params.id)
        if (!can(principal, 'agent.manage', { type: 'site', tenantId: site.tenantId, siteId: site.id }))
          throw forbidden()
        const id = randomUUID()
        const [row]: { expires_at: Date }[] = await tx.execute(
          `insert into agent_enrollments (id, tenant_id, site_id, code_hash, expires_at, created_by)
           values (?, ?, ?, ?, now() + make_interval(secs => ?), ?) returning expires_at`,
          [id, site.tenantId, site.id, hash, ttl, principal.userId],
        )
        return { id, site, expiresAt: new Date(row?.expires_at ?? Date.now()) }
      })
      await hub.audit.record({
        action: 'agent.enrollment.create',
        outcome: 'success',
        tenantId: created.site.tenantId,
        ...auditSource(ctx, principal),
        target: { type: 'site', id: created.site.id },
        details: { enrollmentId: created.id, expiresAt: created.expiresAt.toISOString() },
      })
      ctx.status = 201
      ctx.body = { code, expiresAt: created.expiresAt.toISOString(), siteId: created.site.id }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/enroll',
    tag: 'agents',
    auth: 'public',
    summary: 'Exchange a one-time enrollment code for agent credentials (the code is the credential)',
    description: 'A used or expired code answers 410; an unknown one 404. Rate-limited per client address.',
    body: enrollBody,
    responses: { 201: { description: 'Credentials, shown once', schema: enrollResponse } },
    async handler(ctx, { body }) {
      const meta = clientMeta(ctx)
      await hub.limits.enrollAttempt(meta.ip)
      const codeHash = hashEnrollmentCode(body.code)
      const [enrollment]: {
        id: string
        tenant_id: string
        site_id: string
        used: boolean
        expired: boolean
      }[] = await hub.db.withSystem((tx) =>
        tx.execute(
          `select id, tenant_id, site_id, used_at is not null as used, expires_at <= now() as expired
               from agent_enrollments where code_hash = ?`,
          [codeHash],
        ),
      )
      if (!enrollment) throw new HttpError(404, 'unknown_code', 'no such enrollment code')
      if (enrollment.used) throw gone('this enrollment code has already been used', 'code_used')
      if (enrollment.expired) throw gone('this enrollment code has expired', 'code_expired')
      const agentId = randomUUID()
      const { secret, hash } = newAgentSecret()
      const name = body.name ?? body.hostname ?? `agent-${agentId.slice(0, 8)}`
      await hub.db.withTenant({ tenantId: enrollment.tenant_id }, async (tx) => {
        await lockTenant(tx, enrollment.tenant_id)
        const claimed: { id: string }[] = await tx.execute(
          `update agent_enrollments set used_at = now(), agent_id = ?
            where id = ? and used_at is null and expires_at > now() returning id`,
          [agentId, enrollment.id],
        )
        if (claimed.length === 0) throw gone('this enrollment code has already been used', 'code_used')
        await hub.licensing.assertCanAdd(tx, enrollment.tenant_id, 'agents')
        await tx.execute(
          `insert into agents (id, tenant_id, site_id, name, hostname, version, secret_hash)
           values (?, ?, ?, ?, ?, ?, ?)`,
          [
            agentId,
            enrollment.tenant_id,
            enrollment.site_id,
            name,
            body.hostname ?? null,
            body.version ?? null,
            hash,
          ],
        )
      })
      await hub.agents.bus.admit(agentId, secret)
      await hub.audit.record({
        action: 'agent.enroll',
        outcome: 'success',
        tenantId: enrollment.tenant_id,
        actor: { type: 'agent', id: agentId, name },
        target: { type: 'agent', id: agentId },
        clientIp: meta.ip,
        userAgent: meta.userAgent,
        details: {
          siteId: enrollment.site_id,
          hostname: body.hostname ?? null,
          version: body.version ?? null,
        },
      })
      announce('agent.enroll', { id: agentId, tenant_id: enrollment.tenant_id, site_id: enrollment.site_id })
      ctx.status = 201
      ctx.body = {
        agentId,
        mqttUrl: hub.agents.publicUrl(ctx.hostname),
        secret,
        caFingerprint: hub.agents.tls?.fingerprint ?? null,
        caCertificate: hub.agents.tls?.cert ?? null,
        configKey: agentConfigKey(hub.secrets, agentId).toString('base64'),
        siteId: enrollment.site_id,
        tenantId: enrollment.tenant_id,
      }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/agents',
    tag: 'agents',
    auth: 'user',
    summary: 'List the agents of the sites you can see',
    query: paginationQuery.extend({ siteId: z.uuid().optional(), tenantId: z.uuid().optional() }),
    responses: { 200: { description: 'Agents', schema: page(agent) } },
    async handler(ctx, { query, principal }) {
      const vis = visibility(principal)
      const clauses: string[] = []
      const params: unknown[] = []
      if (query.siteId) {
        clauses.push('site_id = ?')
        params.push(query.siteId)
      }
      if (query.tenantId) {
        clauses.push('tenant_id = ?')
        params.push(query.tenantId)
      }
      if (!vis.all) {
        const sites = [...vis.siteIds, ...vis.cameraSiteIds]
        clauses.push(sites.length ? `site_id in (${sites.map(() => '?').join(', ')})` : 'false')
        params.push(...sites)
      }
      const where = clauses.length ? `where ${clauses.join(' and ')}` : ''
      const { rows, total } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const [count]: { n: string }[] = await tx.execute(`select count(*) as n from agents ${where}`, params)
        const list: AgentRow[] = await tx.execute(
          `select * from agents ${where} order by name, id limit ${query.limit} offset ${query.offset}`,
          params,
        )
        return { rows: list, total: Number(count?.n ?? 0) }
      })
      ctx.body = { items: rows.map((r) => agentDto(r, principal)), total }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/agents/:id',
    tag: 'agents',
    auth: 'user',
    summary: 'Get an agent, with its status and last reported health',
    params: idParams,
    responses: { 200: { description: 'The agent', schema: agent } },
    async handler(ctx, { params, principal }) {
      ctx.body = agentDto(
        await hub.db.withTenant(scopeOf(principal), (tx) => visibleAgent(tx, principal, params.id)),
        principal,
      )
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/agents/:id',
    tag: 'agents',
    auth: 'user',
    summary: 'Rename, disable (cut off at once) or re-enable an agent',
    params: idParams,
    body: z
      .object({ name: z.string().trim().min(1).max(200).optional(), disabled: z.boolean().optional() })
      .strict(),
    responses: { 200: { description: 'The agent', schema: agent } },
    async handler(ctx, { params, body, principal }) {
      const updated = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const row = await visibleAgent(tx, principal, params.id)
        if (!can(principal, 'agent.manage', siteResource(row))) throw forbidden()
        if (row.revoked_at) throw new HttpError(409, 'agent_revoked', 'a revoked agent cannot be changed')
        const [next]: AgentRow[] = await tx.execute(
          `update agents set name = coalesce(?, name), disabled = coalesce(?, disabled), updated_at = now()
            where id = ? returning *`,
          [body.name ?? null, body.disabled ?? null, row.id],
        )
        return { before: row, after: next as AgentRow }
      })
      hub.agents.directory.forget(params.id)
      if (body.disabled === true && !updated.before.disabled) {
        await hub.agents.bus.expel(params.id)
        await hub.agents.presence.set(params.id, false, 'disabled')
      }
      if (body.disabled === false && updated.before.disabled) await hub.agents.bus.readmit(params.id)
      await audit(ctx, principal, 'agent.update', updated.after, {
        fields: Object.keys(body),
        disabled: updated.after.disabled,
      })
      ctx.body = agentDto(updated.after, principal)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/agents/:id',
    tag: 'agents',
    auth: 'user',
    summary:
      'Revoke an agent: cut off at once, never to reconnect (its history stays); its cameras are left without an agent, to be given to another',
    params: idParams,
    responses: { 204: { description: 'Revoked' } },
    async handler(ctx, { params, principal }) {
      const { row, cameras } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const r = await visibleAgent(tx, principal, params.id)
        if (!can(principal, 'agent.manage', siteResource(r))) throw forbidden()
        await tx.execute(
          `update agents set revoked_at = coalesce(revoked_at, now()), status = 'offline', updated_at = now() where id = ?`,
          [r.id],
        )
        // A revoked agent records nothing again: its cameras show as unassigned until another
        // agent takes them (which needs their passwords again, see camera-streams.ts).
        const unassigned: { id: string; site_id: string }[] = await tx.execute(
          'update cameras set agent_id = null, updated_at = now() where agent_id = ? returning id, site_id',
          [r.id],
        )
        return { row: r, cameras: unassigned }
      })
      hub.agents.directory.forget(params.id)
      await hub.agents.bus.expel(params.id)
      await hub.live.endForAgent(params.id, 'agent revoked')
      await audit(ctx, principal, 'agent.revoke', row, { camerasUnassigned: cameras.map((c) => c.id) })
      for (const c of cameras)
        hub.updates.publish(
          cameraChange({ id: c.id, tenantId: row.tenant_id, siteId: c.site_id }, 'camera.update'),
        )
      ctx.status = 204
    },
  })

  const configView = z.object({
    version: z.number().int(),
    config: agentConfig,
    appliedVersion: z.number().int().nullable(),
  })

  api.route({
    method: 'get',
    path: '/api/v1/agents/:id/config',
    tag: 'agents',
    auth: 'user',
    summary: "An agent's desired configuration and the version it last applied (agent.manage)",
    params: idParams,
    responses: { 200: { description: 'Configuration', schema: configView } },
    async handler(ctx, { params, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const row = await visibleAgent(tx, principal, params.id)
        // It lists every camera of the agent (names, URLs, usernames): for those who run agents.
        if (!can(principal, 'agent.manage', siteResource(row))) throw forbidden()
        return {
          version: row.config_version,
          config: redactConfig(await desiredConfig(tx, hub.secrets, row.id, row.desired_config)),
          appliedVersion: row.applied_config_version,
        }
      })
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/agents/:id/config',
    tag: 'agents',
    auth: 'user',
    summary: "Replace an agent's desired configuration (a new version goes down at once)",
    params: idParams,
    body: z
      .object({
        config: agentConfig.extend({
          // Cameras are assigned with /api/v1/cameras; an empty list is accepted for compatibility.
          cameras: z.array(z.unknown()).max(0, 'cameras are assigned with /api/v1/cameras').optional(),
        }),
      })
      .strict(),
    responses: { 200: { description: 'Configuration', schema: configView } },
    async handler(ctx, { params, body, principal }) {
      const row = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const r = await visibleAgent(tx, principal, params.id)
        if (!can(principal, 'agent.manage', siteResource(r))) throw forbidden()
        const [next]: AgentRow[] = await tx.execute(
          `update agents set desired_config = ?::jsonb, config_version = config_version + 1, updated_at = now()
            where id = ? returning *`,
          [JSON.stringify({ ...body.config, cameras: undefined }), r.id],
        )
        const updated = next as AgentRow
        return {
          row: updated,
          config: redactConfig(await desiredConfig(tx, hub.secrets, updated.id, updated.desired_config)),
        }
      })
      hub.agents.directory.forget(params.id)
      await publishDesiredConfig(hub.db, hub.agents.bus, hub.secrets, params.id)
      await audit(ctx, principal, 'agent.config.update', row.row, { version: row.row.config_version })
      ctx.body = {
        version: row.row.config_version,
        config: row.config,
        appliedVersion: row.row.applied_config_version,
      }
    },
  })
}
