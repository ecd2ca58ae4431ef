import { can, canSee, type Resource, visibility } from '../rbac/authorize.ts'
import type { Principal } from '../rbac/principal.ts'

/**
 * What changed, for the consoles watching (`GET /api/v1/stream`): an agent's state, a camera's
 * state, an administrator's change to either (`change`: the audited action, e.g. `camera.create`,
 * `agent.revoke`), a new event, the end of a live session the viewer did not end. Each update names the resource it is about, so a subscriber shows it only
 * to a user who may see that resource. In-process: with several hubs, each pushes what it applied
 * itself (an agent's messages go to one hub at a time), so a console on another hub learns the
 * change on its next refresh rather than at once.
 */
export type Update =
  | {
      type: 'agent'
      resource: Extract<Resource, { type: 'site' }>
      data: {
        id: string
        siteId: string
        status?: 'online' | 'offline'
        health?: boolean
        change?: AdminChange
      }
    }
  | {
      type: 'camera'
      resource: Extract<Resource, { type: 'camera' }>
      data: { id: string; siteId: string; streams?: unknown[]; change?: AdminChange }
    }
  | {
      type: 'event'
      resource: Resource
      data: {
        id: string
        tenantId: string
        agentId: string | null
        siteId: string | null
        cameraId: string | null
        seq: number | null
        type: string
        time: string
        receivedAt: string
        data: Record<string, unknown>
      }
    }
  | {
      /**
       * An alarm opened, acknowledged, closed or reopened (issue 16): for those who may handle
       * alarms on what it is about (`alarm.handle` on its camera, site or tenant).
       */
      type: 'alarm'
      resource: Resource
      data: { event: 'opened' | 'acknowledged' | 'closed' | 'reopened'; alarm: Record<string, unknown> }
    }
  | {
      /** A live session the hub ended (not its viewer): for that viewer alone. */
      type: 'live'
      viewer: { userId: string }
      data: { sessionId: string; cameraId: string; reason: string }
    }

/** An administrator's change a console shows at once: the audit action that recorded it. */
export type AdminChange =
  | 'agent.update'
  | 'agent.revoke'
  | 'agent.config.update'
  | 'agent.enroll'
  | 'camera.create'
  | 'camera.update'
  | 'camera.delete'

/** An administrator's change to a camera, for those who see the camera. */
export const cameraChange = (
  c: { id: string; tenantId: string; siteId: string },
  change: AdminChange,
): Update => ({
  type: 'camera',
  resource: { type: 'camera', tenantId: c.tenantId, siteId: c.siteId, cameraId: c.id },
  data: { id: c.id, siteId: c.siteId, change },
})

/** An administrator's change to an agent, for those who see its site. */
export const agentChange = (
  a: { id: string; tenantId: string; siteId: string },
  change: AdminChange,
): Update => ({
  type: 'agent',
  resource: { type: 'site', tenantId: a.tenantId, siteId: a.siteId },
  data: { id: a.id, siteId: a.siteId, change },
})

export type UpdateListener = (update: Update) => void

export class UpdateBus {
  private readonly listeners = new Set<UpdateListener>()

  subscribe(listener: UpdateListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  publish(update: Update): void {
    for (const l of this.listeners) {
      try {
        l(update)
      } catch {
        // One subscriber's failure is its own; the others still get the update.
      }
    }
  }

  get subscribers(): number {
    return this.listeners.size
  }
}

/** The resource an event is about: its camera, else its site, else its tenant. */
export function eventResource(e: {
  tenantId: string
  siteId: string | null
  cameraId: string | null
}): Resource {
  if (e.siteId && e.cameraId)
    return { type: 'camera', tenantId: e.tenantId, siteId: e.siteId, cameraId: e.cameraId }
  if (e.siteId) return { type: 'site', tenantId: e.tenantId, siteId: e.siteId }
  return { type: 'tenant', tenantId: e.tenantId }
}

/**
 * Whether the principal is told about an update: by the same rule as the list it would appear in.
 * A live session's end: its viewer alone. An agent's or a camera's: whoever sees its site or camera (`GET /api/v1/agents`, `/cameras`). An
 * event: exactly whoever `GET /api/v1/events` shows it to, so a camera binding gives its camera's
 * events from the camera's own site and nothing else of that site (not an agent's events without
 * a camera, nor one another site's agent attributed to nobody).
 */
export function mayReceive(principal: Principal, update: Update): boolean {
  if (update.type === 'live') return !principal.disabled && principal.userId === update.viewer.userId
  if (update.type === 'alarm')
    return (
      !principal.disabled &&
      canSee(principal, update.resource) &&
      can(principal, 'alarm.handle', update.resource)
    )
  if (update.type !== 'event') return canSee(principal, update.resource)
  const e = update.data
  if (principal.disabled) return false
  if (principal.isSystemAdmin) return true
  if (e.tenantId !== principal.tenantId) return false
  const vis = visibility(principal)
  if (vis.all) return true
  if (e.siteId !== null && vis.siteIds.has(e.siteId)) return true
  return e.cameraId !== null && e.siteId !== null && vis.cameraSites.get(e.cameraId) === e.siteId
}
