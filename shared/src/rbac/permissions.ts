/**
 * The permission catalogue and the built-in roles. Both the hub (authorisation) and user
 * interfaces (what to show) read it, so it lives in shared/.
 *
 * A permission is granted by binding a role at a scope: the whole tenant, one site (and its
 * cameras) or one camera. Permissions that act on tenant-wide objects (users, roles, licenses,
 * audit, the tenant itself) only take effect from a tenant-scope binding.
 */
export const PERMISSIONS = [
  'camera.live',
  'camera.playback',
  'camera.export',
  'camera.ptz',
  'camera.manage',
  'site.manage',
  'user.manage',
  'role.manage',
  'audit.read',
  'license.manage',
  'agent.manage',
  'tenant.manage',
  /** See the alarms of the sites and cameras in scope; acknowledge and close them. */
  'alarm.handle',
  /** Alarm rules in scope; notification channels (tenant scope only: see routes). */
  'alarm.manage',
  /** Evidence locks (making and removing) and cases. */
  'evidence.manage',
] as const

export type Permission = (typeof PERMISSIONS)[number]

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value)
}

/** Permissions that only make sense tenant-wide; a site or camera binding never grants them. */
export const TENANT_ONLY_PERMISSIONS: ReadonlySet<Permission> = new Set<Permission>([
  'user.manage',
  'role.manage',
  'audit.read',
  'license.manage',
  'tenant.manage',
])

export const BUILTIN_ROLE_NAMES = [
  'system-admin',
  'tenant-admin',
  'site-manager',
  'operator',
  'viewer',
  'auditor',
  'installer',
] as const

export type BuiltinRoleName = (typeof BUILTIN_ROLE_NAMES)[number]

export const SYSTEM_ADMIN_ROLE: BuiltinRoleName = 'system-admin'
export const TENANT_ADMIN_ROLE: BuiltinRoleName = 'tenant-admin'
/** The tenant created at first start; its system-admins manage every tenant. */
export const SYSTEM_TENANT_SLUG = 'system'

export const BUILTIN_ROLES: Record<BuiltinRoleName, { description: string; permissions: Permission[] }> = {
  'system-admin': {
    description: 'Operates the whole installation: every permission in every tenant.',
    permissions: [...PERMISSIONS],
  },
  'tenant-admin': {
    description:
      'Administers one tenant: its settings, sites, cameras, agents, users, roles and license. Cannot create or delete tenants.',
    permissions: [...PERMISSIONS],
  },
  'site-manager': {
    description: 'Runs the sites and cameras in scope: configuration, agents and all viewing.',
    permissions: [
      'camera.live',
      'camera.playback',
      'camera.export',
      'camera.ptz',
      'camera.manage',
      'site.manage',
      'agent.manage',
      'alarm.handle',
      'alarm.manage',
      'evidence.manage',
    ],
  },
  operator: {
    description: 'Watches, reviews and exports video, steers PTZ cameras and handles alarms in scope.',
    permissions: ['camera.live', 'camera.playback', 'camera.export', 'camera.ptz', 'alarm.handle'],
  },
  viewer: {
    description: 'Watches live video in scope.',
    permissions: ['camera.live'],
  },
  auditor: {
    description: 'Reads the audit trail of the tenant.',
    permissions: ['audit.read'],
  },
  installer: {
    description:
      "Sets up a site: manages its cameras and agents and watches live to test them (the agent's setup wizard signs in as one); no playback or export.",
    permissions: ['camera.manage', 'agent.manage', 'camera.live'],
  },
}
