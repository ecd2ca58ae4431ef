import { describe, expect, it } from 'vitest'
import {
  BUILTIN_ROLE_NAMES,
  BUILTIN_ROLES,
  isPermission,
  PERMISSIONS,
  TENANT_ONLY_PERMISSIONS,
} from './permissions.ts'

describe('permission catalogue', () => {
  it('holds exactly the documented permissions', () => {
    expect([...PERMISSIONS].sort()).toEqual(
      [
        'agent.manage',
        'alarm.handle',
        'alarm.manage',
        'audit.read',
        'evidence.manage',
        'camera.export',
        'camera.live',
        'camera.manage',
        'camera.playback',
        'camera.ptz',
        'license.manage',
        'role.manage',
        'site.manage',
        'tenant.manage',
        'user.manage',
      ].sort(),
    )
    expect(isPermission('camera.live')).toBe(true)
    expect(isPermission('camera.launch')).toBe(false)
    for (const p of TENANT_ONLY_PERMISSIONS) expect(isPermission(p)).toBe(true)
  })

  it('defines every built-in role from the catalogue', () => {
    expect(Object.keys(BUILTIN_ROLES).sort()).toEqual([...BUILTIN_ROLE_NAMES].sort())
    for (const [name, role] of Object.entries(BUILTIN_ROLES)) {
      expect(role.permissions.length, name).toBeGreaterThan(0)
      for (const p of role.permissions) expect(isPermission(p), `${name}: ${p}`).toBe(true)
    }
    expect(BUILTIN_ROLES['system-admin'].permissions).toEqual([...PERMISSIONS])
    expect(BUILTIN_ROLES.viewer.permissions).toEqual(['camera.live'])
  })

  it('lets an installer set up cameras and agents and watch live, but not play back or export', () => {
    expect(BUILTIN_ROLE_NAMES).toContain('installer')
    expect([...BUILTIN_ROLES.installer.permissions].sort()).toEqual([
      'agent.manage',
      'camera.live',
      'camera.manage',
    ])
    for (const p of ['camera.playback', 'camera.export', 'site.manage'] as const)
      expect(BUILTIN_ROLES.installer.permissions).not.toContain(p)
    // Bound at a site: nothing in it is tenant-only, so the whole role takes effect there.
    for (const p of BUILTIN_ROLES.installer.permissions) expect(TENANT_ONLY_PERMISSIONS.has(p)).toBe(false)
  })
})
