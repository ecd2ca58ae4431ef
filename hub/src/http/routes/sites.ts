import { randomUUID } from 'node:crypto'
import type { Context } from 'koa'
import type { Tx } from '../../db/database.ts'
import { CameraSchema, type Site, SiteSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, canSee, type Resource, visibility } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import { lockTenant } from '../../services/admin-guard.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { siteDto } from '../dto.ts'
import { conflict, forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery, site, siteCreate, siteUpdate, tenantFilter } from '../schemas.ts'
import { targetTenant } from './tenants.ts'

export const siteResource = (s: Site): Resource => ({ type: 'site', tenantId: s.tenantId, siteId: s.id })

/** A site the principal may see, or 404. */
export async function visibleSite(tx: Tx, principal: Principal, id: string): Promise<Site> {
  const found = await tx.findOne(SiteSchema, { id })
  if (!found || !canSee(principal, siteResource(found))) throw notFound('site')
  return found
}

async function assertUniqueName(tx: Tx, tenantId: string, name: string, exceptId?: string) {
  const rows: { id: string }[] = await tx.execute(
    'select id from sites where tenant_id = ? and lower(name) = lower(?)',
    [tenantId, name],
  )
  if (rows.some((r) => r.id !== exceptId))
    throw conflict(`a site named "${name}" already exists`, 'already_exists')
}

export function registerSiteRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, s: Site, details?: Record<string, unknown>) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: s.tenantId,
      target: { type: 'site', id: s.id },
      ...auditSource(ctx, p),
      details: { name: s.name, ...details },
    })

  api.route({
    method: 'get',
    path: '/api/v1/sites',
    tag: 'sites',
    auth: 'user',
    summary: 'List the sites you can see',
    query: paginationQuery.extend(tenantFilter.shape),
    responses: { 200: { description: 'Sites', schema: page(site) } },
    async handler(ctx, { query, principal }) {
      const vis = visibility(principal)
      const where: Record<string, unknown> = {}
      if (query.tenantId) where.tenantId = query.tenantId
      if (!vis.all) where.id = { $in: [...vis.siteIds, ...vis.cameraSiteIds] }
      const [items, total] = await hub.db.withTenant(scopeOf(principal), (tx) =>
        tx.findAndCount(SiteSchema, where, {
          orderBy: { name: 'asc', id: 'asc' },
          limit: query.limit,
          offset: query.offset,
        }),
      )
      ctx.body = { items: items.map(siteDto), total }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/sites',
    tag: 'sites',
    auth: 'user',
    summary: 'Create a site (tenantId: system-admins only)',
    body: siteCreate,
    responses: { 201: { description: 'Created', schema: site } },
    async handler(ctx, { body, principal }) {
      const created = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const tenantId = await targetTenant(tx, principal, body.tenantId)
        if (!can(principal, 'site.manage', { type: 'tenant', tenantId })) throw forbidden()
        await assertUniqueName(tx, tenantId, body.name)
        await lockTenant(tx, tenantId)
        // An expired license refuses additions as such (LICENSE_LIMIT); otherwise a second site needs
        // the multi-site feature (LICENSE_FEATURE) and room under maxSites.
        await hub.licensing.assertCanAdd(tx, tenantId, 'sites', 0)
        if ((await tx.count(SiteSchema, { tenantId })) >= 1)
          await hub.licensing.assertFeature(tx, tenantId, 'multi-site')
        await hub.licensing.assertCanAdd(tx, tenantId, 'sites')
        const s = tx.create(SiteSchema, {
          id: randomUUID(),
          tenantId,
          name: body.name,
          timeZone: body.timeZone ?? null,
        } as Site)
        await tx.flush()
        return s
      })
      await audit(ctx, principal, 'site.create', created)
      ctx.status = 201
      ctx.body = siteDto(created)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/sites/:id',
    tag: 'sites',
    auth: 'user',
    summary: 'Get a site',
    params: idParams,
    responses: { 200: { description: 'The site', schema: site } },
    async handler(ctx, { params, principal }) {
      ctx.body = siteDto(
        await hub.db.withTenant(scopeOf(principal), (tx) => visibleSite(tx, principal, params.id)),
      )
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/sites/:id',
    tag: 'sites',
    auth: 'user',
    summary: 'Rename a site or set its time zone',
    params: idParams,
    body: siteUpdate,
    responses: { 200: { description: 'The updated site', schema: site } },
    async handler(ctx, { params, body, principal }) {
      const updated = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const s = await visibleSite(tx, principal, params.id)
        if (!can(principal, 'site.manage', siteResource(s))) throw forbidden()
        if (body.name !== undefined && body.name !== s.name) {
          await assertUniqueName(tx, s.tenantId, body.name, s.id)
          s.name = body.name
        }
        if (body.timeZone !== undefined) s.timeZone = body.timeZone
        await tx.flush()
        return s
      })
      await audit(ctx, principal, 'site.update', updated, {
        fields: Object.keys(body),
        ...(body.timeZone !== undefined ? { timeZone: updated.timeZone } : {}),
      })
      ctx.body = siteDto(updated)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/sites/:id',
    tag: 'sites',
    auth: 'user',
    summary: 'Delete a site with no cameras left (needs site.manage for the whole tenant)',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, principal }) {
      const deleted = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const s = await visibleSite(tx, principal, params.id)
        if (!can(principal, 'site.manage', { type: 'tenant', tenantId: s.tenantId })) throw forbidden()
        const cameras = await tx.count(CameraSchema, { siteId: s.id })
        if (cameras > 0)
          throw conflict(
            `the site still has ${cameras} camera(s); delete or move them first`,
            'site_not_empty',
          )
        // Agents are kept for the record once revoked, and keep their site.
        const [agents]: { n: string; live: string }[] = await tx.execute(
          'select count(*) as n, count(*) filter (where revoked_at is null) as live from agents where site_id = ?',
          [s.id],
        )
        if (Number(agents?.n ?? 0) > 0)
          throw conflict(
            Number(agents?.live ?? 0) > 0
              ? `the site still has ${agents?.live} agent(s); revoke them first`
              : 'the site has had agents, which are kept for the record (audit and events name it): it cannot be deleted; rename it instead',
            'site_has_agents',
          )
        await tx.execute('delete from sites where id = ?', [s.id])
        return s
      })
      await audit(ctx, principal, 'site.delete', deleted)
      ctx.status = 204
    },
  })
}
