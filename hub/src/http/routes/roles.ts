import { randomUUID } from 'node:crypto'
import { BUILTIN_ROLE_NAMES, type Permission } from '@ts-vms/shared'
import type { Context } from 'koa'
import type { Tx } from '../../db/database.ts'
import { type Role, RoleBindingSchema, RoleSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, permissionsAt } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { roleDto } from '../dto.ts'
import { conflict, forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery, role, roleCreate, roleUpdate, tenantFilter } from '../schemas.ts'
import { targetTenant } from './tenants.ts'

/** A role the principal may see: a built-in one or one of their tenant's (RLS decides), or 404. */
export async function visibleRole(tx: Tx, id: string): Promise<Role> {
  const found = await tx.findOne(RoleSchema, { id })
  if (!found) throw notFound('role')
  return found
}

/** Nobody defines a role with powers they do not hold themselves. */
export function assertNoEscalation(
  principal: Principal,
  tenantId: string,
  permissions: readonly Permission[],
) {
  if (principal.isSystemAdmin) return
  const held = permissionsAt(principal, { type: 'tenant', tenantId })
  const missing = permissions.filter((p) => !held.has(p))
  if (missing.length > 0) {
    throw forbidden(
      `you cannot grant permissions you do not hold: ${missing.join(', ')}`,
      'privilege_escalation',
    )
  }
}

async function assertNameFree(tx: Tx, tenantId: string, name: string, exceptId?: string) {
  if ((BUILTIN_ROLE_NAMES as readonly string[]).includes(name.toLowerCase())) {
    throw conflict(`"${name}" is the name of a built-in role`, 'already_exists')
  }
  const rows: { id: string }[] = await tx.execute(
    'select id from roles where tenant_id = ? and lower(name) = lower(?)',
    [tenantId, name],
  )
  if (rows.some((r) => r.id !== exceptId))
    throw conflict(`a role named "${name}" already exists`, 'already_exists')
}

export function registerRoleRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, r: Role, details?: Record<string, unknown>) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: r.tenantId,
      ...auditSource(ctx, p),
      target: { type: 'role', id: r.id },
      details: { name: r.name, ...details },
    })

  api.route({
    method: 'get',
    path: '/api/v1/roles',
    tag: 'roles',
    auth: 'user',
    summary: "List the built-in roles and your tenant's custom roles",
    query: paginationQuery.extend(tenantFilter.shape),
    responses: { 200: { description: 'Roles', schema: page(role) } },
    async handler(ctx, { query, principal }) {
      const where = query.tenantId ? { $or: [{ tenantId: null }, { tenantId: query.tenantId }] } : {}
      const [items, total] = await hub.db.withTenant(scopeOf(principal), (tx) =>
        tx.findAndCount(RoleSchema, where, {
          orderBy: { builtin: 'desc', name: 'asc', id: 'asc' },
          limit: query.limit,
          offset: query.offset,
        }),
      )
      ctx.body = { items: items.map(roleDto), total }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/roles',
    tag: 'roles',
    auth: 'user',
    summary: 'Define a custom role from the permission catalogue',
    body: roleCreate,
    responses: { 201: { description: 'Created', schema: role } },
    async handler(ctx, { body, principal }) {
      const created = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const tenantId = await targetTenant(tx, principal, body.tenantId)
        if (!can(principal, 'role.manage', { type: 'tenant', tenantId })) throw forbidden()
        assertNoEscalation(principal, tenantId, body.permissions)
        await assertNameFree(tx, tenantId, body.name)
        const r = tx.create(RoleSchema, {
          id: randomUUID(),
          tenantId,
          name: body.name,
          description: body.description ?? null,
          permissions: [...new Set(body.permissions)],
          builtin: false,
        } as Role)
        await tx.flush()
        return r
      })
      await audit(ctx, principal, 'role.create', created, { permissions: created.permissions })
      ctx.status = 201
      ctx.body = roleDto(created)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/roles/:id',
    tag: 'roles',
    auth: 'user',
    summary: 'Get a role',
    params: idParams,
    responses: { 200: { description: 'The role', schema: role } },
    async handler(ctx, { params, principal }) {
      ctx.body = roleDto(await hub.db.withTenant(scopeOf(principal), (tx) => visibleRole(tx, params.id)))
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/roles/:id',
    tag: 'roles',
    auth: 'user',
    summary: 'Change a custom role (built-in roles are fixed)',
    params: idParams,
    body: roleUpdate,
    responses: { 200: { description: 'The updated role', schema: role } },
    async handler(ctx, { params, body, principal }) {
      const updated = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const r = await visibleRole(tx, params.id)
        if (r.builtin || !r.tenantId) throw conflict('built-in roles cannot be changed', 'builtin_role')
        if (!can(principal, 'role.manage', { type: 'tenant', tenantId: r.tenantId })) throw forbidden()
        if (body.permissions) {
          assertNoEscalation(principal, r.tenantId, body.permissions)
          r.permissions = [...new Set(body.permissions)]
        }
        if (body.name !== undefined && body.name !== r.name) {
          await assertNameFree(tx, r.tenantId, body.name, r.id)
          r.name = body.name
        }
        if (body.description !== undefined) r.description = body.description
        await tx.flush()
        return r
      })
      await audit(ctx, principal, 'role.update', updated, {
        fields: Object.keys(body),
        permissions: updated.permissions,
      })
      ctx.body = roleDto(updated)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/roles/:id',
    tag: 'roles',
    auth: 'user',
    summary: 'Delete a custom role that no binding uses',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, principal }) {
      const deleted = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const r = await visibleRole(tx, params.id)
        if (r.builtin || !r.tenantId) throw conflict('built-in roles cannot be deleted', 'builtin_role')
        if (!can(principal, 'role.manage', { type: 'tenant', tenantId: r.tenantId })) throw forbidden()
        const uses = await tx.count(RoleBindingSchema, { roleId: r.id })
        if (uses > 0)
          throw conflict(
            `the role is bound to users ${uses} time(s); remove the bindings first`,
            'role_in_use',
          )
        await tx.execute('delete from roles where id = ?', [r.id])
        return r
      })
      await audit(ctx, principal, 'role.delete', deleted)
      ctx.status = 204
    },
  })
}
