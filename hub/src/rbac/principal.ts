import type { Permission } from '@ts-vms/shared'
import { isPermission, SYSTEM_ADMIN_ROLE } from '@ts-vms/shared'
import type { Tx } from '../db/database.ts'
import type { ScopeType } from '../db/entities.ts'

/** What a role binding grants: a role's permissions at one scope. */
export interface Grant {
  bindingId: string
  roleId: string
  roleName: string
  permissions: ReadonlySet<Permission>
  scope: { type: ScopeType; siteId?: string; cameraId?: string }
  /** For camera scopes: the camera's site, so the site shows up (read-only) in lists. */
  cameraSiteId?: string
}

/** The authenticated caller, as every authorisation decision sees it. */
export interface Principal {
  userId: string
  tenantId: string
  username: string
  sessionVersion: number
  disabled: boolean
  /** Holds `system-admin` in the system tenant: every permission in every tenant. */
  isSystemAdmin: boolean
  grants: Grant[]
}

interface GrantRow {
  binding_id: string
  role_id: string
  role_name: string
  permissions: string[]
  scope_type: ScopeType
  site_id: string | null
  camera_id: string | null
  camera_site_id: string | null
}

export async function loadGrants(tx: Tx, userId: string): Promise<Grant[]> {
  const rows: GrantRow[] = await tx.execute(
    `select b.id as binding_id, r.id as role_id, r.name as role_name, r.permissions, b.scope_type,
            b.site_id, b.camera_id, c.site_id as camera_site_id
       from role_bindings b
       join roles r on r.id = b.role_id
       left join cameras c on c.id = b.camera_id
      where b.user_id = ?
      order by b.created_at, b.id`,
    [userId],
  )
  return rows.map((row) => ({
    bindingId: row.binding_id,
    roleId: row.role_id,
    roleName: row.role_name,
    permissions: new Set(row.permissions.filter(isPermission)),
    scope:
      row.scope_type === 'tenant'
        ? { type: 'tenant' }
        : row.scope_type === 'site'
          ? { type: 'site', siteId: row.site_id ?? '' }
          : { type: 'camera', cameraId: row.camera_id ?? '' },
    ...(row.camera_site_id ? { cameraSiteId: row.camera_site_id } : {}),
  }))
}

interface UserRow {
  id: string
  tenant_id: string
  username: string
  session_version: number
  disabled: boolean
  tenant_slug: string
}

/** Loads a principal inside the user's tenant scope, or undefined if the user is gone. */
export async function loadPrincipal(
  tx: Tx,
  userId: string,
  systemTenantId: string,
): Promise<Principal | undefined> {
  const [user]: UserRow[] = await tx.execute(
    `select u.id, u.tenant_id, u.username, u.session_version, u.disabled, t.slug as tenant_slug
       from users u join tenants t on t.id = u.tenant_id
      where u.id = ?`,
    [userId],
  )
  if (!user) return undefined
  const grants = await loadGrants(tx, userId)
  return {
    userId: user.id,
    tenantId: user.tenant_id,
    username: user.username,
    sessionVersion: user.session_version,
    disabled: user.disabled,
    isSystemAdmin:
      user.tenant_id === systemTenantId &&
      grants.some((g) => g.roleName === SYSTEM_ADMIN_ROLE && g.scope.type === 'tenant'),
    grants,
  }
}
