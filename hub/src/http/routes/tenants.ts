import { randomUUID } from 'node:crypto'
import { SYSTEM_TENANT_SLUG } from '@ts-vms/shared'
import type { Context } from 'koa'
import type { Tx } from '../../db/database.ts'
import { SiteSchema, type Tenant, TenantSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { tenantDto } from '../dto.ts'
import { conflict, forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery, tenant, tenantCreate, tenantUpdate } from '../schemas.ts'

/** Finds a tenant the principal may see (RLS shows others only to system-admins), or 404. */
export async function visibleTenant(tx: Tx, id: string): Promise<Tenant> {
  const found = await tx.findOne(TenantSchema, { id })
  if (!found) throw notFound('tenant')
  return found
}

/** The tenant a create request targets: the caller's, or (system-admins only) the one named. */
export async function targetTenant(
  tx: Tx,
  principal: Principal,
  requested: string | undefined,
): Promise<string> {
  if (!requested || requested === principal.tenantId) return principal.tenantId
  if (!principal.isSystemAdmin) throw notFound('tenant')
  return (await visibleTenant(tx, requested)).id
}

export function registerTenantRoutes(api: Api, hub: HubContext): void {
  const auditTenant = (
    ctx: Context,
    p: Principal,
    action: string,
    t: Tenant,
    details?: Record<string, unknown>,
  ) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: t.id,
      target: { type: 'tenant', id: t.id },
      ...auditSource(ctx, p),
      ...(details ? { details } : {}),
    })

  api.route({
    method: 'get',
    path: '/api/v1/tenants',
    tag: 'tenants',
    auth: 'user',
    summary: 'List tenants (your own; system-admins see all)',
    query: paginationQuery,
    responses: { 200: { description: 'Tenants', schema: page(tenant) } },
    async handler(ctx, { query, principal }) {
      const [items, total] = await hub.db.withTenant(scopeOf(principal), (tx) =>
        tx.findAndCount(
          TenantSchema,
          {},
          { orderBy: { slug: 'asc' }, limit: query.limit, offset: query.offset },
        ),
      )
      ctx.body = { items: items.map(tenantDto), total }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/tenants',
    tag: 'tenants',
    auth: 'user',
    summary: 'Create a tenant (system-admins)',
    body: tenantCreate,
    responses: { 201: { description: 'Created', schema: tenant } },
    async handler(ctx, { body, principal }) {
      if (!principal.isSystemAdmin) throw forbidden('only system administrators can create tenants')
      const created = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        if (await tx.count(TenantSchema, { slug: body.slug })) {
          throw conflict(`a tenant with slug "${body.slug}" already exists`, 'already_exists')
        }
        const t = tx.create(TenantSchema, { id: randomUUID(), slug: body.slug, name: body.name } as Tenant)
        await tx.flush()
        return t
      })
      await auditTenant(ctx, principal, 'tenant.create', created, { slug: created.slug })
      ctx.status = 201
      ctx.body = tenantDto(created)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/tenants/:id',
    tag: 'tenants',
    auth: 'user',
    summary: 'Get a tenant',
    params: idParams,
    responses: { 200: { description: 'The tenant', schema: tenant } },
    async handler(ctx, { params, principal }) {
      ctx.body = tenantDto(await hub.db.withTenant(scopeOf(principal), (tx) => visibleTenant(tx, params.id)))
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/tenants/:id',
    tag: 'tenants',
    auth: 'user',
    summary: 'Rename a tenant or change its slug',
    params: idParams,
    body: tenantUpdate,
    responses: { 200: { description: 'The updated tenant', schema: tenant } },
    async handler(ctx, { params, body, principal }) {
      const updated = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const t = await visibleTenant(tx, params.id)
        if (!can(principal, 'tenant.manage', { type: 'tenant', tenantId: t.id })) throw forbidden()
        if (body.slug !== undefined && body.slug !== t.slug) {
          if (t.slug === SYSTEM_TENANT_SLUG)
            throw conflict('the system tenant keeps its slug', 'system_tenant')
          if (await tx.count(TenantSchema, { slug: body.slug })) {
            throw conflict(`a tenant with slug "${body.slug}" already exists`, 'already_exists')
          }
          t.slug = body.slug
        }
        if (body.name !== undefined) t.name = body.name
        await tx.flush()
        return t
      })
      await auditTenant(ctx, principal, 'tenant.update', updated, { fields: Object.keys(body) })
      ctx.body = tenantDto(updated)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/tenants/:id',
    tag: 'tenants',
    auth: 'user',
    summary: 'Delete a tenant with no sites left (system-admins); its users and roles go with it',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, principal }) {
      const deleted = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const t = await visibleTenant(tx, params.id)
        if (!principal.isSystemAdmin) throw forbidden('only system administrators can delete tenants')
        if (t.id === hub.systemTenantId)
          throw conflict('the system tenant cannot be deleted', 'system_tenant')
        const sites = await tx.count(SiteSchema, { tenantId: t.id })
        if (sites > 0)
          throw conflict(`the tenant still has ${sites} site(s); delete them first`, 'tenant_not_empty')
        await tx.execute('delete from tenants where id = ?', [t.id])
        return t
      })
      await auditTenant(ctx, principal, 'tenant.delete', deleted, { slug: deleted.slug })
      ctx.status = 204
    },
  })
}
