import type { Permission } from '@ts-vms/shared'
import { BUILTIN_ROLES } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { allPermissions, can, canSee, visibility } from './authorize.ts'
import type { Grant, Principal } from './principal.ts'

const T = '00000000-0000-4000-8000-000000000001'
const OTHER = '00000000-0000-4000-8000-000000000002'
const siteA = { type: 'site', tenantId: T, siteId: 'site-a' } as const
const siteB = { type: 'site', tenantId: T, siteId: 'site-b' } as const
const camA1 = { type: 'camera', tenantId: T, siteId: 'site-a', cameraId: 'cam-a1' } as const
const camB1 = { type: 'camera', tenantId: T, siteId: 'site-b', cameraId: 'cam-b1' } as const

function grant(roleName: keyof typeof BUILTIN_ROLES, scope: Grant['scope'], cameraSiteId?: string): Grant {
  return {
    bindingId: `b-${roleName}`,
    roleId: `r-${roleName}`,
    roleName,
    permissions: new Set<Permission>(BUILTIN_ROLES[roleName].permissions),
    scope,
    ...(cameraSiteId ? { cameraSiteId } : {}),
  }
}

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

describe('can', () => {
  it('lets a tenant binding reach every site and camera of its tenant only', () => {
    const p = principal([grant('operator', { type: 'tenant' })])
    expect(can(p, 'camera.live', camA1)).toBe(true)
    expect(can(p, 'camera.live', camB1)).toBe(true)
    expect(can(p, 'camera.manage', camA1)).toBe(false)
    expect(can(p, 'camera.live', { ...camA1, tenantId: OTHER })).toBe(false)
  })

  it('limits a site binding to the site and its cameras', () => {
    const p = principal([grant('site-manager', { type: 'site', siteId: 'site-a' })])
    expect(can(p, 'camera.manage', camA1)).toBe(true)
    expect(can(p, 'site.manage', siteA)).toBe(true)
    expect(can(p, 'camera.manage', camB1)).toBe(false)
    expect(can(p, 'site.manage', siteB)).toBe(false)
    expect(can(p, 'site.manage', { type: 'tenant', tenantId: T })).toBe(false)
  })

  it('limits a camera binding to the camera', () => {
    const p = principal([grant('viewer', { type: 'camera', cameraId: 'cam-a1' }, 'site-a')])
    expect(can(p, 'camera.live', camA1)).toBe(true)
    expect(can(p, 'camera.live', { ...camA1, cameraId: 'cam-a2' })).toBe(false)
    expect(canSee(p, siteA)).toBe(true)
    expect(canSee(p, siteB)).toBe(false)
  })

  it('never grants tenant-wide permissions from a narrower scope', () => {
    const p = principal([grant('tenant-admin', { type: 'site', siteId: 'site-a' })])
    expect(can(p, 'user.manage', siteA)).toBe(false)
    expect(can(p, 'user.manage', { type: 'tenant', tenantId: T })).toBe(false)
    expect(can(p, 'camera.manage', camA1)).toBe(true)
    expect(allPermissions(p).has('user.manage')).toBe(false)
  })

  it('gives system-admins everything everywhere, and disabled users nothing', () => {
    const admin = principal([], { isSystemAdmin: true })
    expect(can(admin, 'tenant.manage', { type: 'tenant', tenantId: OTHER })).toBe(true)
    const disabled = principal([grant('tenant-admin', { type: 'tenant' })], { disabled: true })
    expect(can(disabled, 'camera.live', camA1)).toBe(false)
    expect(canSee(disabled, siteA)).toBe(false)
  })
})

describe('visibility', () => {
  it('is everything for tenant bindings and the bound ids otherwise', () => {
    expect(visibility(principal([grant('viewer', { type: 'tenant' })]))).toEqual({ all: true })
    const v = visibility(
      principal([
        grant('viewer', { type: 'site', siteId: 'site-a' }),
        grant('viewer', { type: 'camera', cameraId: 'cam-b1' }, 'site-b'),
      ]),
    )
    expect(v.all).toBe(false)
    if (!v.all) {
      expect([...v.siteIds]).toEqual(['site-a'])
      expect([...v.cameraIds]).toEqual(['cam-b1'])
      expect([...v.cameraSiteIds]).toEqual(['site-b'])
    }
  })
})
