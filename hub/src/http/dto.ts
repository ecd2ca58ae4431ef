import { ANALYTICS_DEFAULTS, type AnalyticsConfig, analyticsConfigSchema } from '@ts-vms/shared'
import { deviceView } from '../cameras/camera-device.ts'
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

/** The defaults, computed once (a camera list would otherwise build the schema per camera). */
const ANALYTICS_OFF: AnalyticsConfig = analyticsConfigSchema(null).parse({})

/**
 * A camera's analytics configuration as the API shows it: never set (null) reads as the defaults;
 * a configuration stored before `motionSource` existed reads with its default (the agent's).
 */
export const analyticsConfigView = (stored: AnalyticsConfig | null | undefined): AnalyticsConfig => {
  if (!stored) return structuredClone(ANALYTICS_OFF)
  return stored.motionSource === undefined
    ? { ...stored, motionSource: ANALYTICS_DEFAULTS.motionSource }
    : stored
}

/** What the agent has not told the hub, said as the reason the operator sees. */
const NOT_REPORTED = 'the agent has not reported analytics for this camera yet'

/**
 * A camera's analytics status: the agent's word from its last heartbeat when it gave one; else
 * `disabled` when the configuration is off, and an error naming why nothing is known when it is
 * on (no agent, an agent away, or one too old to run analytics), so "on" never looks "running".
 */
export function analyticsStatusView(
  config: AnalyticsConfig,
  status: CameraStatus | null,
  agentId: string | null,
) {
  const reported = status?.analytics
  if (reported) {
    return {
      state: reported.state,
      ...(reported.error !== undefined ? { error: reported.error } : {}),
      fps: reported.fps,
      inferenceMsP50: reported.inferenceMsP50,
      skippedByMotion: reported.skippedByMotion,
    }
  }
  const zeros = { fps: 0, inferenceMsP50: 0, skippedByMotion: 0 }
  if (!config.enabled) return { state: 'disabled' as const, ...zeros }
  const why = !agentId
    ? ': the camera is not assigned to an agent'
    : status && !status.agentOnline
      ? ": the camera's agent is not connected"
      : ' (it may not have applied the configuration yet, or be a version without analytics)'
  return { state: 'error' as const, error: `${NOT_REPORTED}${why}`, ...zeros }
}

/** Never includes a camera or device password, sealed or not (`hasPassword` says whether there is one). */
export const cameraDto = (c: Camera, status: CameraStatus | null = null) => {
  const analyticsConfig = analyticsConfigView(c.analytics)
  // The heartbeat's analytics entry is shown once, as `analytics`, in the contract's shape.
  const { analytics: _reported, ...streamStatus } = status ?? {}
  return {
    id: c.id,
    tenantId: c.tenantId,
    siteId: c.siteId,
    name: c.name,
    agentId: c.agentId ?? null,
    streams: (c.streams ?? []).map(streamView),
    device: c.device ? deviceView(c.device) : null,
    recording: c.recording,
    analyticsConfig,
    analytics: analyticsStatusView(analyticsConfig, status, c.agentId ?? null),
    status: status ? (streamStatus as Omit<CameraStatus, 'analytics'>) : null,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
  }
}

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
