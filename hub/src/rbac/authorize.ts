import type { Permission } from '@ts-vms/shared'
import { PERMISSIONS, TENANT_ONLY_PERMISSIONS } from '@ts-vms/shared'
import type { Grant, Principal } from './principal.ts'

/**
 * The one authorisation function. Every route asks `can(principal, permission, resource)` about
 * the resource it is about to touch; lists are filtered through `visibility`. Pure: no I/O, the
 * resource's place in the tenant/site/camera tree is passed in.
 */
export type Resource =
  | { type: 'tenant'; tenantId: string }
  | { type: 'site'; tenantId: string; siteId: string }
  | { type: 'camera'; tenantId: string; siteId: string; cameraId: string }

function covers(grant: Grant, resource: Resource): boolean {
  switch (grant.scope.type) {
    case 'tenant':
      return true
    case 'site':
      return resource.type !== 'tenant' && resource.siteId === grant.scope.siteId
    case 'camera':
      return resource.type === 'camera' && resource.cameraId === grant.scope.cameraId
  }
}

export function can(principal: Principal, permission: Permission, resource: Resource): boolean {
  if (principal.disabled) return false
  if (principal.isSystemAdmin) return true
  if (resource.tenantId !== principal.tenantId) return false
  return principal.grants.some(
    (grant) =>
      grant.permissions.has(permission) &&
      covers(grant, resource) &&
      // Tenant-wide powers never flow from a site or camera binding.
      (grant.scope.type === 'tenant' || !TENANT_ONLY_PERMISSIONS.has(permission)),
  )
}

/** May the principal see the resource at all? (If not, it does not exist for them: 404.) */
export function canSee(principal: Principal, resource: Resource): boolean {
  if (principal.disabled) return false
  if (principal.isSystemAdmin) return true
  if (resource.tenantId !== principal.tenantId) return false
  return principal.grants.some(
    (grant) =>
      covers(grant, resource) ||
      // A camera grant makes its site visible, so the camera can be found under it.
      (resource.type === 'site' && grant.cameraSiteId === resource.siteId),
  )
}

/**
 * Does the principal see the whole site, every camera in it (a tenant or site grant), rather than
 * only some of its cameras? What concerns all of a site's cameras at once (an agent's health and
 * errors) is shown whole only then.
 */
export function canSeeWholeSite(
  principal: Principal,
  site: { type: 'site'; tenantId: string; siteId: string },
): boolean {
  if (principal.disabled) return false
  if (principal.isSystemAdmin) return true
  if (site.tenantId !== principal.tenantId) return false
  return principal.grants.some((grant) => covers(grant, site))
}

/** The permissions a principal holds on a resource (for /me and escalation checks). */
export function permissionsAt(principal: Principal, resource: Resource): Set<Permission> {
  return new Set(PERMISSIONS.filter((p) => can(principal, p, resource)))
}

/** Every permission the principal holds anywhere in their tenant. */
export function allPermissions(principal: Principal): Set<Permission> {
  if (principal.isSystemAdmin) return new Set(PERMISSIONS)
  const result = new Set<Permission>()
  for (const grant of principal.grants) {
    for (const p of grant.permissions) {
      if (grant.scope.type === 'tenant' || !TENANT_ONLY_PERMISSIONS.has(p)) result.add(p)
    }
  }
  return result
}

/**
 * What part of a tenant's sites and cameras the principal sees, for list queries: `all`, or the
 * explicit site and camera ids (a site grant reveals all of its cameras).
 */
export type Visibility =
  | { all: true }
  | {
      all: false
      siteIds: Set<string>
      cameraIds: Set<string>
      cameraSiteIds: Set<string>
      /** Each camera grant's camera and its site (data about a camera from another site is not its). */
      cameraSites: Map<string, string>
    }

export function visibility(principal: Principal): Visibility {
  if (principal.isSystemAdmin || principal.grants.some((g) => g.scope.type === 'tenant')) {
    return { all: true }
  }
  const siteIds = new Set<string>()
  const cameraIds = new Set<string>()
  const cameraSiteIds = new Set<string>()
  const cameraSites = new Map<string, string>()
  for (const grant of principal.grants) {
    if (grant.scope.type === 'site' && grant.scope.siteId) siteIds.add(grant.scope.siteId)
    if (grant.scope.type === 'camera' && grant.scope.cameraId) {
      cameraIds.add(grant.scope.cameraId)
      if (grant.cameraSiteId) {
        cameraSiteIds.add(grant.cameraSiteId)
        cameraSites.set(grant.scope.cameraId, grant.cameraSiteId)
      }
    }
  }
  return { all: false, siteIds, cameraIds, cameraSiteIds, cameraSites }
}
