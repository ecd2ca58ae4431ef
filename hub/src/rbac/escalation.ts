import { isPermission, type Permission, TENANT_ONLY_PERMISSIONS } from '@ts-vms/shared'
import { forbidden } from '../errors.ts'
import { permissionsAt, type Resource } from './authorize.ts'
import type { Grant, Principal } from './principal.ts'

/**
 * No privilege escalation: nobody grants a permission they do not hold at that scope, and nobody
 * takes over (resets the password or e-mail of, renames, disables, deletes, demotes) a user who
 * holds a permission they do not hold at a covering scope. Otherwise `user.manage` alone would be
 * every power of every user it can reset, up to system-admin.
 */

/** Of `permissions`, those the principal does not hold on `resource`. */
export function missingPermissions(
  principal: Principal,
  permissions: Iterable<string>,
  resource: Resource,
): Permission[] {
  if (principal.isSystemAdmin) return []
  const held = permissionsAt(principal, resource)
  return [...permissions].filter((p): p is Permission => isPermission(p) && !held.has(p))
}

export function escalationError(missing: readonly string[], what = 'grant permissions you do not hold') {
  return forbidden(`you cannot ${what}: ${missing.join(', ')}`, 'privilege_escalation')
}

function grantResource(tenantId: string, grant: Grant): Resource {
  switch (grant.scope.type) {
    case 'tenant':
      return { type: 'tenant', tenantId }
    case 'site':
      return { type: 'site', tenantId, siteId: grant.scope.siteId ?? '' }
    case 'camera':
      return {
        type: 'camera',
        tenantId,
        siteId: grant.cameraSiteId ?? '',
        cameraId: grant.scope.cameraId ?? '',
      }
  }
}

/**
 * What `target` may do that `actor` may not: each permission of each of the target's bindings
 * that the actor does not hold on that binding's scope (a site or camera binding is covered by the
 * actor's tenant, site or camera grant, as `can` decides), and `system-admin` itself.
 */
export function powersBeyond(actor: Principal, target: Principal): string[] {
  if (actor.isSystemAdmin) return []
  const beyond = new Set<string>()
  if (target.isSystemAdmin) beyond.add('system-admin')
  for (const grant of target.grants) {
    // Tenant-wide permissions bound at a site or camera give nothing (see `can`): nothing to hold.
    const effective = [...grant.permissions].filter(
      (p) => grant.scope.type === 'tenant' || !TENANT_ONLY_PERMISSIONS.has(p),
    )
    for (const p of missingPermissions(actor, effective, grantResource(target.tenantId, grant))) {
      beyond.add(p)
    }
  }
  return [...beyond]
}

/** Throws 403 `privilege_escalation` unless the actor holds everything the target holds. */
export function assertMayManageUser(actor: Principal, target: Principal): void {
  const beyond = powersBeyond(actor, target)
  if (beyond.length > 0) {
    throw escalationError(beyond, 'manage a user who holds permissions you do not hold')
  }
}
