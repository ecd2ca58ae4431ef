import { SYSTEM_ADMIN_ROLE, TENANT_ADMIN_ROLE } from '@ts-vms/shared'
import type { Tx } from '../db/database.ts'
import { conflict } from '../errors.ts'

/**
 * Keeps every tenant administrable: the last active tenant-admin of a tenant, and the last active
 * system-admin, cannot be disabled, deleted or demoted. Callers take the tenant's row lock first
 * (lockTenant), so two admins removing each other at once cannot both succeed.
 */
export const ADMIN_ROLES = [TENANT_ADMIN_ROLE, SYSTEM_ADMIN_ROLE] as const

export async function lockTenant(tx: Tx, tenantId: string): Promise<void> {
  await tx.execute('select id from tenants where id = ? for update', [tenantId])
}

/** Active users holding the built-in admin role at tenant scope in the tenant. */
async function activeAdmins(tx: Tx, tenantId: string, roleName: string): Promise<string[]> {
  const rows: { id: string }[] = await tx.execute(
    `select distinct u.id
       from users u
       join role_bindings b on b.user_id = u.id and b.scope_type = 'tenant'
       join roles r on r.id = b.role_id and r.tenant_id is null and r.name = ?
      where u.tenant_id = ? and not u.disabled`,
    [roleName, tenantId],
  )
  return rows.map((r) => r.id)
}

/** Throws 409 if taking `userId` out of service (disable, delete) would leave no admin. */
export async function assertNotLastAdmin(
  tx: Tx,
  tenantId: string,
  userId: string,
  verb: string,
): Promise<void> {
  for (const role of ADMIN_ROLES) {
    const admins = await activeAdmins(tx, tenantId, role)
    if (admins.length === 1 && admins[0] === userId) {
      throw conflict(`cannot ${verb} the last active ${role}`, 'last_admin')
    }
  }
}

/** Throws 409 if removing this binding would leave the tenant without an active admin of that role. */
export async function assertBindingRemovable(
  tx: Tx,
  binding: { tenantId: string; userId: string; scopeType: string; roleName: string; roleBuiltin: boolean },
  actingUserId: string,
): Promise<void> {
  const isAdminBinding =
    binding.roleBuiltin &&
    binding.scopeType === 'tenant' &&
    (ADMIN_ROLES as readonly string[]).includes(binding.roleName)
  if (!isAdminBinding) return
  if (binding.userId === actingUserId) {
    const own: { n: string }[] = await tx.execute(
      `select count(*) as n from role_bindings b join roles r on r.id = b.role_id
        where b.user_id = ? and b.scope_type = 'tenant' and r.tenant_id is null and r.name in (?, ?)`,
      [actingUserId, ...ADMIN_ROLES],
    )
    if (Number(own[0]?.n ?? 0) <= 1)
      throw conflict('you cannot remove your own last admin role', 'self_demotion')
  }
  const admins = await activeAdmins(tx, binding.tenantId, binding.roleName)
  if (admins.length === 1 && admins[0] === binding.userId) {
    throw conflict(`cannot remove the last active ${binding.roleName}`, 'last_admin')
  }
}
