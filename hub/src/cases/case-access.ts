import { can, type Resource } from '../rbac/authorize.ts'
import type { Principal } from '../rbac/principal.ts'

/**
 * Who may do what with a case (pure). A case is evidence about its cameras: it is managed with
 * `evidence.manage` on every one of them (a tenant-wide grant covers all), and its creator may
 * always read it. Anyone else does not learn it exists (404).
 */
export interface CaseOwner {
  tenant_id: string
  created_by: string | null
}

export interface ClipPlace {
  camera_id: string
  site_id: string
}

export const clipResource = (tenantId: string, c: ClipPlace): Resource => ({
  type: 'camera',
  tenantId,
  siteId: c.site_id,
  cameraId: c.camera_id,
})

/** `evidence.manage` covering every camera of the case. */
export function mayManageCase(p: Principal, c: CaseOwner, clips: readonly ClipPlace[]): boolean {
  if (p.disabled) return false
  if (clips.length === 0) return can(p, 'evidence.manage', { type: 'tenant', tenantId: c.tenant_id })
  return clips.every((clip) => can(p, 'evidence.manage', clipResource(c.tenant_id, clip)))
}

export function isCreator(p: Principal, c: CaseOwner): boolean {
  return !p.disabled && c.created_by !== null && c.created_by === p.userId && c.tenant_id === p.tenantId
}

/** Read, download, annotate: the creator or a manager of all its cameras. */
export function mayViewCase(p: Principal, c: CaseOwner, clips: readonly ClipPlace[]): boolean {
  return isCreator(p, c) || mayManageCase(p, c, clips)
}
