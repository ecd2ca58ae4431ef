import { TenantSchema, UserSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { allPermissions } from '../../rbac/authorize.ts'
import type { Api } from '../api.ts'
import { scopeDto } from '../dto.ts'
import { me } from '../schemas.ts'

export function registerMeRoutes(api: Api, hub: HubContext): void {
  api.route({
    method: 'get',
    path: '/api/v1/me',
    tag: 'auth',
    auth: 'user',
    summary: 'Who am I: identity, roles, effective permissions and bindings',
    responses: { 200: { description: 'The caller', schema: me } },
    async handler(ctx, { principal }) {
      const { user, tenant } = await hub.db.withTenant(scopeOf(principal), async (tx) => ({
        user: await tx.findOneOrFail(UserSchema, { id: principal.userId }),
        tenant: await tx.findOneOrFail(TenantSchema, { id: principal.tenantId }),
      }))
      ctx.body = {
        id: user.id,
        username: user.username,
        tenantId: user.tenantId,
        tenantSlug: tenant.slug,
        displayName: user.displayName ?? null,
        email: user.email ?? null,
        roles: [...new Set(principal.grants.map((g) => g.roleName))].sort(),
        permissions: [...allPermissions(principal)].sort(),
        bindings: principal.grants.map((g) => ({
          id: g.bindingId,
          role: { id: g.roleId, name: g.roleName },
          scope: scopeDto({
            scopeType: g.scope.type,
            siteId: g.scope.siteId ?? null,
            cameraId: g.scope.cameraId ?? null,
          }),
        })),
        systemAdmin: principal.isSystemAdmin,
      }
    },
  })
}
