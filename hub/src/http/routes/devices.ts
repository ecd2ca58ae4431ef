import {
  type CameraSnapshotResult,
  cameraSnapshotResult,
  type DeviceDiscoverResult,
  deviceAddress,
  deviceChannel,
  deviceDiscoverResult,
  deviceProbeResult,
  discoveredDevice,
  discoverRequestFields,
  probeProtocol,
} from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { AgentRequestError } from '../../agents/agent-requests.ts'
import { deviceHost, previewSnapshot, probeDevice } from '../../cameras/camera-device.ts'
import { agentConfigKey } from '../../cameras/camera-streams.ts'
import type { Tx } from '../../db/database.ts'
import type { Camera } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { conflict, forbidden, gone, HttpError } from '../errors.ts'
import { deviceCredential, idParams } from '../schemas.ts'
import { visibleAgent } from './agents.ts'
import { agentError, reachableCamera } from './cameras.ts'
import { RecentKeys } from './events.ts'

/**
 * Devices through a site's agent (issue 14): discovery on the site's network, a probe of one
 * device with the credentials an installer typed, and a camera's current still. The hub never
 * reaches a device itself: sites dial out, so the agent asks, and answers over its own connection.
 */

/** A user's stills of one camera are audited once in this window (per hub process), as event snapshots are. */
const SNAPSHOT_AUDIT_WINDOW_MS = 10 * 60_000

/** The hub waits this much longer than a discovery's own timeout for the agent's answer. */
const DISCOVERY_SLACK_MS = 5_000

const discoverBody = z
  .object({
    methods: discoverRequestFields.methods
      .default(['onvif', 'scan'])
      .describe(
        'onvif: WS-Discovery (multicast, or unicast to the targets); scan: known ports of the targets',
      ),
    targets: discoverRequestFields.targets.describe(
      'Hosts, CIDR ranges (up to /22) and host:port; absent: multicast and the local subnets',
    ),
    timeoutMs: discoverRequestFields.timeoutMs.default(5000).describe('How long the agent looks (ms)'),
  })
  .strict()

const probeBody = z
  .object({
    address: deviceAddress.describe('host, host:port, or the ONVIF device service URL; no credentials'),
    username: deviceCredential(256).optional(),
    password: deviceCredential(1024)
      .optional()
      .describe('Sealed for the agent and this request alone; never stored, logged or returned'),
    protocol: probeProtocol.default('auto').describe('auto tries ONVIF, then ISAPI, then Dahua'),
  })
  .strict()

const previewBody = z
  .object({
    address: deviceAddress.describe('host, host:port, or the ONVIF device service URL; no credentials'),
    protocol: z.enum(['onvif', 'isapi', 'dahua']).describe('The protocol the probe found'),
    channel: deviceChannel.describe(
      "The channel as the probe named it (ONVIF: a profile token; '' : the first)",
    ),
    username: deviceCredential(256).optional(),
    password: deviceCredential(1024)
      .optional()
      .describe('Sealed for the agent and this request alone; never stored, logged or returned'),
  })
  .strict()

/** A device as the API shows it: what the agent said, and the camera already added for it. */
const apiDevice = discoveredDevice.extend({
  cameraId: z.uuid().nullable().describe('A camera of the site already at this address, or null'),
})
const discoverResponse = z.object({ devices: z.array(apiDevice) })
const probeResponse = z.object({
  device: apiDevice.extend({ protocol: deviceProbeResult.shape.device.shape.protocol }),
  channels: deviceProbeResult.shape.channels,
})

interface AgentForDevices {
  id: string
  tenantId: string
  siteId: string
}

/**
 * The agent the principal may send to the devices of its site: visible, `camera.manage` on its
 * site, neither revoked nor disabled, connected now. Also the site's cameras by address, for the
 * answer's `cameraId`.
 */
async function deviceAgent(
  hub: HubContext,
  principal: Principal,
  id: string,
): Promise<{ agent: AgentForDevices; cameras: Map<string, string> }> {
  return hub.db.withTenant(scopeOf(principal), async (tx) => {
    const row = await visibleAgent(tx, principal, id)
    const site = { type: 'site' as const, tenantId: row.tenant_id, siteId: row.site_id }
    if (!can(principal, 'camera.manage', site)) throw forbidden()
    if (row.revoked_at) throw gone('the agent has been revoked', 'agent_revoked')
    if (row.disabled) throw conflict('the agent is disabled', 'agent_disabled')
    if (row.status !== 'online')
      throw new HttpError(
        503,
        'agent_offline',
        "the agent is not connected to the hub: it reaches the site's devices when it returns",
      )
    return {
      agent: { id: row.id, tenantId: row.tenant_id, siteId: row.site_id },
      cameras: await camerasByHost(tx, row.site_id),
    }
  })
}

/**
 * The site's cameras by the host they are at (the device's address, else their streams' hosts):
 * what tells an installer a discovered device is already added. An NVR's channels share a host;
 * the first camera by name stands for it.
 */
async function camerasByHost(tx: Tx, siteId: string): Promise<Map<string, string>> {
  const rows: Pick<Camera, 'id' | 'streams' | 'device'>[] = await tx.execute(
    'select id, streams, device from cameras where site_id = ? order by name, id',
    [siteId],
  )
  const byDevice = new Map<string, string>()
  const byStream = new Map<string, string>()
  for (const c of rows) {
    if (c.device && !byDevice.has(deviceHost(c.device.address)))
      byDevice.set(deviceHost(c.device.address), c.id)
    for (const s of c.streams ?? []) {
      try {
        const host = new URL(s.url).hostname.toLowerCase().replace(/^\[|\]$/g, '')
        if (!byStream.has(host)) byStream.set(host, c.id)
      } catch {
        // A stored URL was checked when it was given; one that does not parse names no host.
      }
    }
  }
  // A camera bound to the device wins over one that merely streams from the same host.
  return new Map([...byStream, ...byDevice])
}

const cameraAt = (cameras: Map<string, string>, address: string) => cameras.get(deviceHost(address)) ?? null

/** A still's bytes, refused unless they start as a JPEG does (nothing else is served as image/jpeg). */
function jpegOf(result: CameraSnapshotResult): Buffer {
  const bytes = Buffer.from(result.base64, 'base64')
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8)
    throw new HttpError(502, 'bad_agent_answer', 'the agent answered something that is not a JPEG')
  return bytes
}

export function registerDeviceRoutes(api: Api, hub: HubContext): void {
  const stills = new RecentKeys(10_000)
  const audit = (
    ctx: Context,
    p: Principal,
    agent: AgentForDevices,
    action: string,
    outcome: 'success' | 'failure',
    details: Record<string, unknown>,
    reason?: string,
  ) =>
    hub.audit.record({
      action,
      outcome,
      tenantId: agent.tenantId,
      target: { type: 'agent', id: agent.id },
      ...auditSource(ctx, p),
      ...(reason ? { reason } : {}),
      details: { siteId: agent.siteId, ...details },
    })

  /**
   * A device request through the agent whose refusals (wrong passwords, no answer) are audited
   * too: passwords tried against a site's devices are worth a record. The agent's or hub's own
   * failures (5xx) are not the user's doing and are not.
   */
  const refusalsAudited = async <T>(
    ctx: Context,
    p: Principal,
    agent: AgentForDevices,
    action: string,
    asked: Record<string, unknown>,
    run: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await run()
    } catch (err) {
      if (err instanceof AgentRequestError && err.status < 500)
        await audit(ctx, p, agent, action, 'failure', { ...asked, code: err.code }, err.code)
      throw agentError(err)
    }
  }

  api.route({
    method: 'post',
    path: '/api/v1/agents/:id/discover',
    tag: 'devices',
    auth: 'user',
    summary: "Discover devices on the agent's network (ONVIF WS-Discovery and a port scan)",
    description:
      'The agent looks for `timeoutMs` and answers what it found; `cameraId` names a camera of the ' +
      "site already at that address. Needs `camera.manage` on the agent's site. Audited as " +
      '`device.discover` (methods, targets, how many found).',
    params: idParams,
    body: discoverBody,
    responses: {
      200: { description: 'The devices found', schema: discoverResponse },
      404: { description: 'No such agent (or not visible to you)' },
      409: { description: 'The agent is disabled' },
      410: { description: 'The agent has been revoked' },
      502: { description: 'The agent answered something unreadable' },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, body, principal }) {
      const { agent, cameras } = await deviceAgent(hub, principal, params.id)
      let result: DeviceDiscoverResult
      try {
        result = await hub.agents.requests.callParsed(
          agent.id,
          body.timeoutMs + DISCOVERY_SLACK_MS,
          () => ({
            op: 'device.discover',
            methods: body.methods,
            ...(body.targets ? { targets: body.targets } : {}),
            timeoutMs: body.timeoutMs,
          }),
          deviceDiscoverResult,
        )
      } catch (err) {
        throw agentError(err)
      }
      await audit(ctx, principal, agent, 'device.discover', 'success', {
        methods: body.methods,
        ...(body.targets ? { targets: body.targets.slice(0, 32), targetCount: body.targets.length } : {}),
        timeoutMs: body.timeoutMs,
        found: result.devices.length,
      })
      ctx.body = {
        devices: result.devices.map((d) => ({ ...d, cameraId: cameraAt(cameras, d.address) })),
      }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/agents/:id/probe',
    tag: 'devices',
    auth: 'user',
    summary: 'Probe one device through the agent: what it is, and its channels and streams',
    description:
      'The password travels to the agent sealed under its configuration key, bound to this request, ' +
      'and is never stored, logged, audited or returned. Wrong credentials: 422 `DEVICE_AUTH`; no ' +
      'answer: 422 `DEVICE_UNREACHABLE`; an answer in no protocol asked for: 422 `DEVICE_PROTOCOL`. ' +
      "Needs `camera.manage` on the agent's site. Audited as `device.probe` (address, protocol, " +
      'username, outcome).',
    params: idParams,
    body: probeBody,
    responses: {
      200: { description: 'The device and its channels', schema: probeResponse },
      404: { description: 'No such agent (or not visible to you)' },
      409: { description: 'The agent is disabled' },
      410: { description: 'The agent has been revoked' },
      422: { description: 'DEVICE_AUTH, DEVICE_UNREACHABLE or DEVICE_PROTOCOL' },
      502: { description: 'The agent answered something unreadable' },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, body, principal }) {
      const { agent, cameras } = await deviceAgent(hub, principal, params.id)
      const asked = {
        address: body.address,
        protocol: body.protocol,
        username: body.username ?? null,
        withPassword: body.password !== undefined,
      }
      const result = await refusalsAudited(ctx, principal, agent, 'device.probe', asked, () =>
        probeDevice(
          hub.agents.requests,
          agentConfigKey(hub.secrets, agent.id),
          agent.id,
          hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
          body,
        ),
      )
      await audit(ctx, principal, agent, 'device.probe', 'success', {
        ...asked,
        found: result.device.protocol,
        channels: result.channels.length,
      })
      ctx.body = {
        device: { ...result.device, cameraId: cameraAt(cameras, body.address) },
        channels: result.channels,
      }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/agents/:id/probe/snapshot',
    tag: 'devices',
    auth: 'user',
    summary: "A still of a probed device's channel before it is added (its own snapshot), through the agent",
    description:
      'What "Add cameras" previews: the device\'s own snapshot of one channel, with the credentials the ' +
      'installer typed (sealed for the agent and this request alone, never stored, logged or returned). ' +
      "Needs `camera.manage` on the agent's site. Wrong credentials: 422 `DEVICE_AUTH`; no answer: 422 " +
      '`DEVICE_UNREACHABLE`; a device without a snapshot of its own: 404. Audited as `device.snapshot` ' +
      '(a still is footage).',
    params: idParams,
    body: previewBody,
    responses: {
      200: { description: 'The still', contentType: 'image/jpeg' },
      404: { description: 'No such agent (or not visible to you), or the device has no snapshot' },
      409: { description: 'The agent is disabled' },
      410: { description: 'The agent has been revoked' },
      422: { description: 'DEVICE_AUTH or DEVICE_UNREACHABLE' },
      502: { description: 'The agent or the device answered something that is not a JPEG' },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, body, principal }) {
      const { agent } = await deviceAgent(hub, principal, params.id)
      const asked = { address: body.address, protocol: body.protocol, channel: body.channel }
      const bytes = jpegOf(
        await refusalsAudited(ctx, principal, agent, 'device.snapshot', asked, () =>
          previewSnapshot(
            hub.agents.requests,
            agentConfigKey(hub.secrets, agent.id),
            agent.id,
            hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
            body,
          ),
        ),
      )
      await audit(ctx, principal, agent, 'device.snapshot', 'success', asked)
      ctx.status = 200
      ctx.type = 'image/jpeg'
      ctx.body = bytes
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id/snapshot.jpg',
    tag: 'cameras',
    auth: 'user',
    summary: "A camera's current still (JPEG), through its agent",
    description:
      "The device's own snapshot when it has one, else a keyframe of the stream decoded by the agent " +
      '(`X-Snapshot-Source: device | stream`). Needs `camera.live`. Not cached. Audited as ' +
      '`camera.snapshot` (a still is footage), once per user and camera in 10 minutes, so a page ' +
      'refreshing thumbnails is one record, not one per refresh.',
    params: idParams,
    responses: {
      200: { description: 'The still', contentType: 'image/jpeg' },
      404: { description: 'No such camera (or not visible to you)' },
      409: { description: 'The camera is not assigned to an agent' },
      502: { description: 'The agent answered something that is not a JPEG' },
      503: { description: 'The agent is not connected, or the camera gave no picture' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, principal }) {
      const c = await reachableCamera(hub, principal, params.id, 'camera.live')
      let result: CameraSnapshotResult
      try {
        result = await hub.agents.requests.callParsed(
          c.agentId,
          hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
          () => ({ op: 'camera.snapshot', cameraId: c.id }),
          cameraSnapshotResult,
        )
      } catch (err) {
        throw agentError(err)
      }
      const bytes = jpegOf(result)
      if (stills.firstIn(`${principal.userId}/${c.id}`, SNAPSHOT_AUDIT_WINDOW_MS))
        await hub.audit.record({
          action: 'camera.snapshot',
          outcome: 'success',
          tenantId: c.tenantId,
          target: { type: 'camera', id: c.id },
          ...auditSource(ctx, principal),
          details: { name: c.name, siteId: c.siteId, source: result.source },
        })
      ctx.status = 200
      ctx.type = 'image/jpeg'
      ctx.set('X-Snapshot-Source', result.source)
      ctx.body = bytes
    },
  })
}
