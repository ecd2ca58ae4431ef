import type { CameraStatus } from '../cameras/camera-status.ts'
import { streamView } from '../cameras/camera-streams.ts'
import type { Camera, Role, RoleBinding, Site, Tenant, User } from '../db/entities.ts'

/** Entity -> API representation. The only place that decides what leaves the hub. */

const iso = (d: Date) => new Date(d).toISOString()

export const tenantDto = (t: Tenant) => ({
  id: t.id,
  slug: t.slug,
  name: t.name,
  createdAt: iso(t.createdAt),
  updatedAt: iso(t.updatedAt),
})

export const siteDto = (s: Site) => ({
  id: s.id,
  tenantId: s.tenantId,
  name: s.name,
  timeZone: s.timeZone ?? null,
  createdAt: iso(s.createdAt),
  updatedAt: iso(s.updatedAt),
})

/** Never includes a camera password, sealed or not (`hasPassword` says whether there is one). */
export const cameraDto = (c: Camera, status: CameraStatus | null = null) => ({
  id: c.id,
  tenantId: c.tenantId,
  siteId: c.siteId,
  name: c.name,
  agentId: c.agentId ?? null,
  streams: (c.streams ?? []).map(streamView),
  recording: c.recording,
  status,
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
})

/** Never includes the password hash or session version. */
export const userDto = (u: User) => ({
  id: u.id,
  tenantId: u.tenantId,
  username: u.username,
  email: u.email ?? null,
  displayName: u.displayName ?? null,
  disabled: u.disabled,
  lastLoginAt: u.lastLoginAt ? iso(u.lastLoginAt) : null,
  createdAt: iso(u.createdAt),
  updatedAt: iso(u.updatedAt),
})

export const roleDto = (r: Role) => ({
  id: r.id,
  tenantId: r.tenantId ?? null,
  name: r.name,
  description: r.description ?? null,
  permissions: [...r.permissions],
  builtin: r.builtin,
  createdAt: iso(r.createdAt),
  updatedAt: iso(r.updatedAt),
})

export function scopeDto(b: Pick<RoleBinding, 'scopeType' | 'siteId' | 'cameraId'>) {
  if (b.scopeType === 'site') return { type: 'site' as const, id: b.siteId ?? undefined }
  if (b.scopeType === 'camera') return { type: 'camera' as const, id: b.cameraId ?? undefined }
  return { type: 'tenant' as const }
}

export const roleBindingDto = (b: RoleBinding, role: Pick<Role, 'id' | 'name'>) => ({
  id: b.id,
  userId: b.userId,
  tenantId: b.tenantId,
  role: { id: role.id, name: role.name },
  scope: scopeDto(b),
  createdAt: iso(b.createdAt),
})
