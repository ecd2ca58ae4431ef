import {
  PTZ_UNSUPPORTED,
  type PtzCommand,
  type PtzPresetsResult,
  type PtzResult,
  ptzCommand,
  ptzPresetsResult,
  ptzResult,
} from '@ts-vms/shared'
import { cameraResource, visibleCamera } from '../../cameras/camera-access.ts'
import type { Camera } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { forbidden, HttpError } from '../errors.ts'
import { idParams } from '../schemas.ts'
import { agentError, reachableCamera } from './cameras.ts'

/**
 * PTZ through the camera's agent (issue 14). The agent steers the device and stops a move by
 * itself after its timeout (at most 5 s), so a lost stop never leaves a camera turning.
 */

/** A move or stop this soon after the user's previous move on the camera continues its sequence (default). */
export const PTZ_SEQUENCE_MS = 10_000

/**
 * Which moves start a sequence worth an audit record: a joystick sends a move every few hundred ms
 * and a stop at the end, and one record per gesture says who steered the camera when, where one
 * per packet would bury everything else in the trail. Per hub process and bounded (the oldest
 * forgotten first); with several hubs a sequence split across them gets a record from each.
 */
export class PtzSequences {
  private readonly lastMove = new Map<string, number>()
  constructor(
    private readonly windowMs = PTZ_SEQUENCE_MS,
    private readonly max = 10_000,
  ) {}

  /** True when this move or stop starts a new sequence (and so is audited). */
  starts(key: string, action: 'move' | 'stop', now = Date.now()): boolean {
    const last = this.lastMove.get(key)
    const continues = last !== undefined && now - last < this.windowMs
    if (action === 'move') {
      // Each move extends the sequence: a long steady joystick session stays one record.
      this.lastMove.delete(key)
      this.lastMove.set(key, now)
      if (this.lastMove.size > this.max) this.lastMove.delete(this.lastMove.keys().next().value as string)
    }
    return !continues
  }
}

/**
 * A camera the principal may steer, whose agent can answer now. One without a device, or a plain
 * rtsp one, has no PTZ to ask for: refused here (409 PTZ_UNSUPPORTED) without bothering the agent.
 */
async function steerableCamera(hub: HubContext, principal: Principal, id: string) {
  const c: Camera = await hub.db.withTenant(scopeOf(principal), (tx) => visibleCamera(tx, principal, id))
  if (!can(principal, 'camera.ptz', cameraResource(c))) throw forbidden()
  if (!c.device || c.device.protocol === 'rtsp')
    throw new HttpError(
      409,
      PTZ_UNSUPPORTED,
      c.device
        ? 'the camera is a plain rtsp stream: it has no PTZ to steer'
        : 'the camera has no device (ONVIF, ISAPI or Dahua) to steer',
    )
  return reachableCamera(hub, principal, id, 'camera.ptz')
}

/** What an audit record says about a command: the whole command (there is nothing secret in it). */
const commandForAudit = (command: PtzCommand) => ({ ...command })

export function registerPtzRoutes(api: Api, hub: HubContext, sequences = new PtzSequences()): void {
  api.route({
    method: 'post',
    path: '/api/v1/cameras/:id/ptz',
    tag: 'cameras',
    auth: 'user',
    summary: 'Steer a PTZ camera: move, stop, go to / set / remove a preset, home',
    description:
      'A `move` (pan, tilt, zoom each -1..1, speeds) runs until a `stop` or its `timeoutMs` (1..5000, ' +
      'default 1000), whichever comes first: the agent stops it itself, so a lost stop cannot leave ' +
      'the camera turning. Needs `camera.ptz`. A camera without PTZ: 409 `PTZ_UNSUPPORTED` (one with ' +
      'no device, or rtsp, without asking the agent). Audited as `camera.ptz`: goto, set, remove and ' +
      'home each; moves and stops once per sequence (a move or stop by the same user on the same ' +
      'camera within 10 s of their previous move continues it).',
    params: idParams,
    body: ptzCommand,
    responses: {
      200: { description: 'Done (`set`: the preset written)', schema: ptzResult },
      404: { description: 'No such camera (or not visible to you), or no such preset' },
      409: { description: '`PTZ_UNSUPPORTED`, or the camera is not assigned to an agent' },
      502: { description: 'The agent answered something unreadable' },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, body, principal }) {
      const c = await steerableCamera(hub, principal, params.id)
      let result: PtzResult
      try {
        result = await hub.agents.requests.callParsed(
          c.agentId,
          hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
          () => ({ op: 'camera.ptz', cameraId: c.id, command: body }),
          ptzResult,
        )
      } catch (err) {
        throw agentError(err)
      }
      const key = `${principal.userId}/${c.id}`
      const audited =
        body.action === 'move' || body.action === 'stop' ? sequences.starts(key, body.action) : true
      if (audited)
        await hub.audit.record({
          action: 'camera.ptz',
          outcome: 'success',
          tenantId: c.tenantId,
          target: { type: 'camera', id: c.id },
          ...auditSource(ctx, principal),
          details: {
            name: c.name,
            siteId: c.siteId,
            command: commandForAudit(body),
            ...(result.preset !== undefined ? { preset: result.preset } : {}),
          },
        })
      ctx.body = result
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id/ptz/presets',
    tag: 'cameras',
    auth: 'user',
    summary: "A PTZ camera's presets",
    description: 'Needs `camera.ptz`. A camera without PTZ: 409 `PTZ_UNSUPPORTED`. Not audited.',
    params: idParams,
    responses: {
      200: { description: 'The presets', schema: ptzPresetsResult },
      404: { description: 'No such camera (or not visible to you)' },
      409: { description: '`PTZ_UNSUPPORTED`, or the camera is not assigned to an agent' },
      502: { description: 'The agent answered something unreadable' },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, principal }) {
      const c = await steerableCamera(hub, principal, params.id)
      let result: PtzPresetsResult
      try {
        result = await hub.agents.requests.callParsed(
          c.agentId,
          hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
          () => ({ op: 'camera.ptz.presets', cameraId: c.id }),
          ptzPresetsResult,
        )
      } catch (err) {
        throw agentError(err)
      }
      ctx.body = result
    },
  })
}
