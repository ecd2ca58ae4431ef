/**
 * The hub's permission catalogue (shared/src/rbac/permissions.ts), with what each one means to a
 * person. The roles the hub returns may name more (a newer hub): the pages add those as they are.
 */
export const PERMISSION_HELP: Record<string, string> = {
  'camera.live': 'watch live video',
  'camera.playback': 'play back recordings',
  'camera.export': 'export recordings',
  'camera.ptz': 'move PTZ cameras',
  'camera.manage': 'add, change and remove cameras',
  'site.manage': 'add, change and remove sites',
  'user.manage': 'manage users and their roles',
  'role.manage': 'define custom roles',
  'audit.read': 'read and export the audit trail',
  'license.manage': 'install licenses',
  'agent.manage': 'enroll, disable and revoke agents',
  'tenant.manage': 'manage the tenant',
}

/** Granted only by a tenant-wide binding; a site or camera binding never gives them. */
export const TENANT_ONLY = new Set([
  'user.manage',
  'role.manage',
  'audit.read',
  'license.manage',
  'tenant.manage',
])

export function permissionCatalogue(extra: Iterable<string> = []): string[] {
  const all = new Set([...Object.keys(PERMISSION_HELP), ...extra])
  return [...all]
}
