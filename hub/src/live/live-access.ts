import { cameraResource, visibleCamera } from '../cameras/camera-access.ts'
import type { Database } from '../db/database.ts'
import { DomainError } from '../errors.ts'
import { can } from '../rbac/authorize.ts'
import { loadPrincipal } from '../rbac/principal.ts'
import type { LiveSession, Recheck } from './live-sessions.ts'

/**
 * Whether a live session's viewer may still watch: the account exists and is enabled, its
 * sessions were not ended (logout everywhere bumps the session version), it still holds
 * `camera.live` on the camera, and the camera is still there on the same agent. Database errors
 * propagate: the caller treats them as "unknown" and lets the session go on.
 */
export function liveAccessCheck(db: Database, systemTenantId: string) {
  return async (s: LiveSession): Promise<Recheck> => {
    const principal = await db.withTenant({ tenantId: s.viewer.tenantId }, (tx) =>
      loadPrincipal(tx, s.viewer.userId, systemTenantId),
    )
    if (!principal || principal.disabled || principal.sessionVersion !== s.viewer.sessionVersion)
      return 'revoked'
    return db.withTenant(
      { tenantId: principal.tenantId, crossTenant: principal.isSystemAdmin },
      async (tx) => {
        try {
          const c = await visibleCamera(tx, principal, s.camera.id)
          return can(principal, 'camera.live', cameraResource(c)) && c.agentId === s.camera.agentId
            ? 'ok'
            : 'revoked'
        } catch (err) {
          if (err instanceof DomainError && err.kind === 'not_found') return 'revoked'
          throw err
        }
      },
    )
  }
}
