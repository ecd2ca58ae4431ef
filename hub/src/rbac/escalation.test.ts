import type { Permission } from '@ts-vms/shared'
import { BUILTIN_ROLES } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { assertMayManageUser, powersBeyond } from './escalation.ts'
import type { Grant, Principal } from './principal.ts'

const T = '00000000-0000-4000-8000-000000000001'

function grant(permissions: Permission[], scope: Grant['scope'], cameraSiteId?: string): Grant {
  return {
    bindingId: `b-${permissions.join('+')}`,
    roleId: 'r',
    roleName: 'custom',
    permissions: new Set(permissions),
    scope,
    ...(cameraSiteId ? { cameraSiteId } : {}),
  }
}
const role = (name: keyof typeof BUILTIN_ROLES, scope: Grant['scope'], cameraSiteId?: string) =>
  grant(BUILTIN_ROLES[name].permissions, scope, cameraSiteId)

function principal(grants: Grant[], extra: Partial<Principal> = {}): Principal {
  return {
    userId: 'u',
    tenantId: T,
    username: 'u',
    sessionVersion: 0,
    disabled: false,
    isSystemAdmin: false,
    grants,
    ...extra,
  }
}

const tenant = { type: 'tenant' } as const
const siteA = { type: 'site', siteId: 'site-a' } as const
const siteB = { type: 'site', siteId: 'site-b' } as const

describe('powersBeyond', () => {
  it('names what a user.manage-only manager lacks against a tenant-admin', () => {
    const desk = principal([grant(['user.manage'], tenant)])
    const admin = principal([role('tenant-admin', tenant)], { userId: 'a' })
    expect(powersBeyond(desk, admin)).toContain('camera.live')
    expect(powersBeyond(desk, admin)).not.toContain('user.manage')
    expect(() => assertMayManageUser(desk, admin)).toThrow(/privilege|permissions you do not hold/)
    expect(powersBeyond(desk, principal([], { userId: 'x' }))).toEqual([])
  })

  it('counts system-admin as a power of its own', () => {
    const tenantAdmin = principal([role('tenant-admin', tenant)])
    const root = principal([role('system-admin', tenant)], { isSystemAdmin: true, userId: 'r' })
    expect(powersBeyond(tenantAdmin, root)).toEqual(['system-admin'])
    expect(powersBeyond(root, tenantAdmin)).toEqual([])
  })

  it('compares at the target binding scope, and ignores tenant-only permissions bound below the tenant', () => {
    const manager = principal([grant(['user.manage'], tenant), role('viewer', siteA)])
    expect(powersBeyond(manager, principal([role('viewer', siteA)]))).toEqual([])
    expect(
      powersBeyond(manager, principal([role('viewer', { type: 'camera', cameraId: 'c1' }, 'site-a')])),
    ).toEqual([])
    expect(powersBeyond(manager, principal([role('viewer', siteB)]))).not.toEqual([])
    expect(powersBeyond(manager, principal([role('viewer', tenant)]))).not.toEqual([])
    // audit.read bound at a site gives nothing, so there is nothing to outrank.
    expect(powersBeyond(manager, principal([grant(['audit.read'], siteA)]))).toEqual([])
  })
})
