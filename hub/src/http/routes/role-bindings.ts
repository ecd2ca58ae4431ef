import { randomUUID } from 'node:crypto'
import { SYSTEM_ADMIN_ROLE } from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import type { Tx } from '../../db/database.ts'
import {
  CameraSchema,
  type Role,
  type RoleBinding,
  RoleBindingSchema,
  RoleSchema,
  SiteSchema,
} from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import type { Resource } from '../../rbac/authorize.ts'
import { escalationError, missingPermissions } from '../../rbac/escalation.ts'
import type { Principal } from '../../rbac/principal.ts'
import { assertBindingRemovable, lockTenant } from '../../services/admin-guard.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { roleBindingDto } from '../dto.ts'
import { conflict, forbidden, notFound, unprocessable } from '../errors.ts'
import { bindingParams, idParams, page, roleBinding, roleBindingCreate } from '../schemas.ts'
import { assertMayManage, managesUsers, visibleUser } from './users.ts'

async function resolveRole(tx: Tx, tenantId: string, ref: string): Promise<Role> {
  const byId = z.uuid().safeParse(ref).success
  const rows = await tx.execute(
    byId
      ? 'select * from roles where id = ? and (tenant_id is null or tenant_id = ?)'
      : 'select * from roles where lower(name) = lower(?) and (tenant_id is null or tenant_id = ?) order by builtin desc limit 1',
    [ref, tenantId],
  )
  if (!rows[0]) throw notFound('role')
  return tx.map(RoleSchema, rows[0])
}

export function registerRoleBindingRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, b: RoleBinding, r: Role) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: b.tenantId,
      ...auditSource(ctx, p),
      target: { type: 'role_binding', id: b.id },
      details: {
        userId: b.userId,
        role: r.name,
        scope: b.scopeType,
        scopeId: b.siteId ?? b.cameraId ?? null,
      },
    })

  api.route({
    method: 'get',
    path: '/api/v1/users/:id/role-bindings',
    tag: 'users',
    auth: 'user',
    summary: "List a user's role bindings",
    params: idParams,
    responses: { 200: { description: 'Bindings', schema: page(roleBinding) } },
    async handler(ctx, { params, principal }) {
      const items = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const u = await visibleUser(tx, principal, params.id)
        const bindings = await tx.find(
          RoleBindingSchema,
          { userId: u.id },
          { orderBy: { createdAt: 'asc', id: 'asc' } },
        )
        const roles = await tx.find(RoleSchema, { id: { $in: [...new Set(bindings.map((b) => b.roleId))] } })
        const byId = new Map(roles.map((r) => [r.id, r]))
        return bindings.map((b) =>
          roleBindingDto(b, byId.get(b.roleId) ?? { id: b.roleId, name: '(hidden)' }),
        )
      })
      ctx.body = { items, total: items.length }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/users/:id/role-bindings',
    tag: 'users',
    auth: 'user',
    summary: 'Give a user a role at the tenant, a site (and its cameras) or one camera',
    params: idParams,
    body: roleBindingCreate,
    responses: { 201: { description: 'Created', schema: roleBinding } },
    async handler(ctx, { params, body, principal }) {
      const { binding, role } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const u = await visibleUser(tx, principal, params.id)
        if (!managesUsers(principal, u.tenantId)) throw forbidden()
        const r = await resolveRole(tx, u.tenantId, body.role)
        let resource: Resource = { type: 'tenant', tenantId: u.tenantId }
        const b: RoleBinding = {
          id: randomUUID(),
          tenantId: u.tenantId,
          userId: u.id,
          roleId: r.id,
          scopeType: body.scope.type,
          siteId: null,
          cameraId: null,
          createdAt: new Date(),
        }
        if (body.scope.type === 'tenant') {
          if (body.scope.id !== undefined && body.scope.id !== u.tenantId) {
            throw unprocessable("a tenant scope must name the user's own tenant", 'invalid_scope')
          }
        } else if (body.scope.type === 'site') {
          const s = await tx.findOne(SiteSchema, { id: body.scope.id, tenantId: u.tenantId })
          if (!s) throw notFound('site')
          b.siteId = s.id
          resource = { type: 'site', tenantId: u.tenantId, siteId: s.id }
        } else {
          const c = await tx.findOne(CameraSchema, { id: body.scope.id, tenantId: u.tenantId })
          if (!c) throw notFound('camera')
          b.cameraId = c.id
          resource = { type: 'camera', tenantId: u.tenantId, siteId: c.siteId, cameraId: c.id }
        }
        if (r.builtin && r.name === SYSTEM_ADMIN_ROLE) {
          if (!principal.isSystemAdmin) throw forbidden('only system administrators can grant system-admin')
          if (u.tenantId !== hub.systemTenantId || body.scope.type !== 'tenant') {
            throw unprocessable(
              'system-admin is granted only at tenant scope in the system tenant',
              'invalid_scope',
            )
          }
        }
        const missing = missingPermissions(principal, r.permissions, resource)
        if (missing.length > 0) throw escalationError(missing)
        const dup = await tx.count(RoleBindingSchema, {
          userId: u.id,
          roleId: r.id,
          scopeType: b.scopeType,
          siteId: b.siteId,
          cameraId: b.cameraId,
        })
        if (dup > 0) throw conflict('the user already has this role at this scope', 'already_exists')
        tx.create(RoleBindingSchema, b)
        await tx.flush()
        return { binding: b, role: r }
      })
      await audit(ctx, principal, 'role_binding.create', binding, role)
      ctx.status = 201
      ctx.body = roleBindingDto(binding, role)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/users/:id/role-bindings/:bindingId',
    tag: 'users',
    auth: 'user',
    summary: 'Take a role binding away (not the last admin, not your own last admin role)',
    params: bindingParams,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, principal }) {
      const { binding, role } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const u = await visibleUser(tx, principal, params.id)
        if (!managesUsers(principal, u.tenantId)) throw forbidden()
        const b = await tx.findOne(RoleBindingSchema, { id: params.bindingId, userId: u.id })
        if (!b) throw notFound('role binding')
        // Demoting a user is managing them: not someone who holds more than you.
        await assertMayManage(tx, principal, u, hub.systemTenantId)
        const r = await tx.findOneOrFail(RoleSchema, { id: b.roleId })
        await lockTenant(tx, u.tenantId)
        await assertBindingRemovable(
          tx,
          {
            tenantId: u.tenantId,
            userId: u.id,
            scopeType: b.scopeType,
            roleName: r.name,
            roleBuiltin: r.builtin,
          },
          principal.userId,
        )
        await tx.execute('delete from role_bindings where id = ?', [b.id])
        return { binding: b, role: r }
      })
      await audit(ctx, principal, 'role_binding.delete', binding, role)
      ctx.status = 204
    },
  })
}
