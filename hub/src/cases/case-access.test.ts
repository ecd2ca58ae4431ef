import type { Permission } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import type { Grant, Principal } from '../rbac/principal.ts'
import { mayManageCase, mayViewCase } from './case-access.ts'

const T = 'tenant-1'
const grant = (permissions: Permission[], scope: Grant['scope']): Grant => ({
  bindingId: 'b',
  roleId: 'r',
  roleName: 'r',
  permissions: new Set(permissions),
  scope,
})
const principal = (userId: string, grants: Grant[], tenantId = T): Principal => ({
  userId,
  tenantId,
  username: userId,
  sessionVersion: 1,
  disabled: false,
  isSystemAdmin: false,
  grants,
})
const clips = [
  { camera_id: 'cam-a', site_id: 'north' },
  { camera_id: 'cam-b', site_id: 'south' },
]
const c = { tenant_id: T, created_by: 'creator' }

describe('case access', () => {
  it('manages with evidence.manage covering every camera of the case', () => {
    expect(mayManageCase(principal('u', [grant(['evidence.manage'], { type: 'tenant' })]), c, clips)).toBe(
      true,
    )
    const north = principal('u', [grant(['evidence.manage'], { type: 'site', siteId: 'north' })])
    expect(mayManageCase(north, c, clips)).toBe(false)
    expect(mayManageCase(north, c, clips.slice(0, 1))).toBe(true)
    const both = principal('u', [
      grant(['evidence.manage'], { type: 'site', siteId: 'north' }),
      grant(['evidence.manage'], { type: 'camera', cameraId: 'cam-b' }),
    ])
    expect(mayManageCase(both, c, clips)).toBe(true)
    expect(mayManageCase(principal('u', [grant(['camera.export'], { type: 'tenant' })]), c, clips)).toBe(
      false,
    )
  })

  it('lets the creator read, never another tenant or a disabled user', () => {
    expect(mayViewCase(principal('creator', []), c, clips)).toBe(true)
    expect(mayViewCase(principal('creator', [], 'tenant-2'), c, clips)).toBe(false)
    expect(mayViewCase({ ...principal('creator', []), disabled: true }, c, clips)).toBe(false)
    expect(mayViewCase(principal('other', []), c, clips)).toBe(false)
    const foreignAdmin = principal('u', [grant(['evidence.manage'], { type: 'tenant' })], 'tenant-2')
    expect(mayViewCase(foreignAdmin, c, clips)).toBe(false)
  })
})
