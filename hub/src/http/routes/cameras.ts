import { randomUUID } from 'node:crypto'
import {
  ANALYTICS_DEFAULTS,
  type AnalyticsConfig,
  type AnalyticsConfigPatch,
  analyticsConfigPatchSchema,
  analyticsConfigSchema,
  type CameraProbeResult,
  cameraProbeResult,
  type DeviceProbeResult,
  mergeAnalyticsConfig,
  type Permission,
  type ProbeProtocol,
  rtspUrl,
  streamRole,
} from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { AgentRequestError } from '../../agents/agent-requests.ts'
import { bumpConfigVersion, publishDesiredConfig } from '../../agents/config-sync.ts'
import { cameraResource, visibleCamera } from '../../cameras/camera-access.ts'
import {
  channelFor,
  type DeviceInput,
  DeviceInputError,
  deviceView,
  probeDevice,
  sealDevice,
  unchangedDevice,
} from '../../cameras/camera-device.ts'
import { type CameraStatus, cameraStatuses } from '../../cameras/camera-status.ts'
import {
  agentConfigKey,
  type StreamInput,
  StreamInputError,
  type StreamOwner,
  sealStreams,
} from '../../cameras/camera-streams.ts'
import type { Tx } from '../../db/database.ts'
import { type Camera, CameraSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { cameraChange } from '../../live-updates/update-bus.ts'
import { can, canSee, visibility } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import { lockTenant } from '../../services/admin-guard.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { analyticsConfigView, cameraDto } from '../dto.ts'
import { badRequest, conflict, forbidden, HttpError, notFound, unprocessable } from '../errors.ts'
import {
  type CameraCreateBody,
  camera,
  cameraCreate,
  cameraUpdate,
  idParams,
  page,
  paginationQuery,
  tenantFilter,
} from '../schemas.ts'
import { tenantModelLabels } from './models.ts'
import { siteResource, visibleSite } from './sites.ts'

/**
 * A camera the principal may act on with `permission`, whose agent can answer now: 409 when no
 * agent is assigned, 503 when its agent is not connected (the hub cannot reach a site otherwise).
 */
export async function reachableCamera(
  hub: HubContext,
  principal: Principal,
  id: string,
  permission: Permission,
): Promise<Camera & { agentId: string }> {
  return hub.db.withTenant(scopeOf(principal), (tx) => reachableIn(tx, principal, id, permission))
}

/**
 * Several cameras checked as `reachableCamera` does, in one transaction (a live grid's 16 tiles
 * would otherwise queue for 16): each id's camera, or the error it alone would have had.
 */
export async function reachableCameras(
  hub: HubContext,
  principal: Principal,
  ids: readonly string[],
  permission: Permission,
): Promise<Map<string, (Camera & { agentId: string }) | Error>> {
  const wanted = [...new Set(ids)]
  return hub.db.withTenant(scopeOf(principal), async (tx) => {
    // Two queries for the whole batch (cameras, then their agents), not two per camera.
    const cameras = new Map(
      (await tx.find(CameraSchema, { id: { $in: wanted } })).map((c) => [c.id, c] as const),
    )
    const agentIds = [...new Set([...cameras.values()].flatMap((c) => (c.agentId ? [c.agentId] : [])))]
    const online = new Set(
      agentIds.length === 0
        ? []
        : (
            (await tx.execute("select id from agents where id in (?) and status = 'online'", [agentIds])) as {
              id: string
            }[]
          ).map((r) => r.id),
    )
    const found = new Map<string, (Camera & { agentId: string }) | Error>()
    for (const id of wanted) {
      try {
        found.set(
          id,
          reachableOf(cameras.get(id), principal, permission, (agentId) => online.has(agentId)),
        )
      } catch (err) {
        // Refusals are the caller's to report, each camera's alone.
        if (!(err instanceof HttpError)) throw err
        found.set(id, err)
      }
    }
    return found
  })
}

async function reachableIn(
  tx: Tx,
  principal: Principal,
  id: string,
  permission: Permission,
): Promise<Camera & { agentId: string }> {
  const c = await tx.findOne(CameraSchema, { id })
  const rows: { status: string }[] = c?.agentId
    ? await tx.execute('select status from agents where id = ?', [c.agentId])
    : []
  return reachableOf(c, principal, permission, () => rows[0]?.status === 'online')
}

/** The checks of `reachableCamera` on a camera already read (null: no such camera). */
function reachableOf(
  c: Camera | null | undefined,
  principal: Principal,
  permission: Permission,
  agentOnline: (agentId: string) => boolean,
): Camera & { agentId: string } {
  if (!c || !canSee(principal, cameraResource(c))) throw notFound('camera')
  if (!can(principal, permission, cameraResource(c))) throw forbidden()
  if (!c.agentId)
    throw conflict(
      'this camera is not assigned to an agent: nothing records or serves it',
      'camera_unassigned',
    )
  if (!agentOnline(c.agentId))
    throw new HttpError(
      503,
      'agent_offline',
      "the camera's agent is not connected to the hub; its video is available when it returns",
    )
  return c as Camera & { agentId: string }
}

/** `POST /api/v1/cameras/{id}/test-stream`: which of the camera's streams to test. */
const testStreamBody = z
  .object({
    stream: streamRole.default('main').describe('The stream to test: main (default) or sub'),
  })
  .strict()

async function assertUniqueName(tx: Tx, siteId: string, name: string, exceptId?: string) {
  const rows: { id: string }[] = await tx.execute(
    'select id from cameras where site_id = ? and lower(name) = lower(?)',
    [siteId, name],
  )
  if (rows.some((r) => r.id !== exceptId)) {
    throw conflict(`a camera named "${name}" already exists at this site`, 'already_exists')
  }
}

/** The agent a camera is assigned to must be an active agent of the camera's site. */
async function assertAgentServesSite(tx: Tx, agentId: string, siteId: string): Promise<void> {
  const rows: { site_id: string; revoked: boolean }[] = await tx.execute(
    'select site_id, revoked_at is not null as revoked from agents where id = ?',
    [agentId],
  )
  const agent = rows[0]
  if (!agent) throw unprocessable('no such agent', 'unknown_agent')
  if (agent.revoked) throw unprocessable('that agent has been revoked', 'agent_revoked')
  if (agent.site_id !== siteId)
    throw unprocessable(
      'the agent is in another site: a camera is recorded by an agent of its own site',
      'agent_not_in_site',
    )
}

function sealed(hub: HubContext, owner: StreamOwner, input: StreamInput[], existing?: Camera['streams']) {
  try {
    return sealStreams(hub.secrets, owner, input, existing)
  } catch (err) {
    if (err instanceof StreamInputError) throw unprocessable(err.message, err.code)
    throw err
  }
}

function sealedDevice(
  hub: HubContext,
  owner: StreamOwner,
  input: DeviceInput | null,
  existing?: Camera['device'],
) {
  try {
    return sealDevice(hub.secrets, owner, input, existing)
  } catch (err) {
    throw deviceError(err)
  }
}

/** A device module's refusal as the API says it (422 with its code); anything else unchanged. */
export function deviceError(err: unknown): unknown {
  return err instanceof DeviceInputError ? unprocessable(err.message, err.code) : err
}

/**
 * An agent's refusal or failure as the API says it: its 4xx with its code (422 DEVICE_AUTH, 409
 * PTZ_UNSUPPORTED, ...), the hub's 502/503/504 as they are. Any other status an agent sends (its
 * own 500) is a bad gateway to the caller, never the hub's 500.
 */
export function agentError(err: unknown): unknown {
  if (!(err instanceof AgentRequestError)) return err
  const passes = (err.status >= 400 && err.status < 500) || [502, 503, 504].includes(err.status)
  return passes
    ? new HttpError(err.status, err.code, err.message)
    : new HttpError(502, 'agent_error', err.message)
}

/** What an audit record may say about a device: never a password. */
export const deviceForAudit = (c: Camera) => (c.device ? deviceView(c.device) : null)

/** The stored streams as input that changes nothing (their passwords kept where allowed). */
const unchanged = (streams: Camera['streams']): StreamInput[] =>
  streams.map(({ passwordSealed: _sealed, ...s }) => s)

/** What an audit record may say about streams: never a password. */
const streamsForAudit = (c: Camera) =>
  c.streams.map((s) => ({ role: s.role, url: s.url, hasPassword: Boolean(s.passwordSealed) }))

/**
 * A 400 in the shape of every other validation error (`details: [{ path, message }]`), each path
 * under `analytics`, so a form can put the message next to the input that caused it.
 */
function invalidAnalytics(issues: readonly { path: readonly PropertyKey[]; message: string }[]): HttpError {
  return badRequest(
    'the request is invalid',
    issues.map((i) => ({ path: ['analytics', ...i.path].map(String).join('.'), message: i.message })),
  )
}

function parseAnalytics<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw invalidAnalytics(parsed.error.issues)
  return parsed.data
}

/**
 * The labels of the model a configuration names (`default`: COCO; any other id: the tenant's
 * uploaded model of that id, routes/models.ts), or a 400 naming `analytics.model`.
 */
async function labelsOfModel(tx: Tx, tenantId: string, model: string): Promise<readonly string[]> {
  const labels = await tenantModelLabels(tx, tenantId, model)
  // The id passed the schema's pattern (letters, digits, ".", "_", "-"): safe to show.
  if (!labels)
    throw invalidAnalytics([
      {
        path: ['model'],
        message: `unknown model "${model}": the hub has no such model (use "default", or upload it: POST /api/v1/models)`,
      },
    ])
  return labels
}

/** A new camera's analytics, checked against the labels of the model it names. */
async function analyticsForCreate(
  tx: Tx,
  tenantId: string,
  input: AnalyticsConfig,
): Promise<AnalyticsConfig> {
  return parseAnalytics(analyticsConfigSchema(await labelsOfModel(tx, tenantId, input.model)), input)
}

/**
 * The analytics a PATCH leaves (null: back to never set). The patch is checked against the
 * labels of the model the result names (the patch's, else the stored one), then merged and
 * checked whole, so a rule across fields holds against the stored values too (a zone object the
 * camera's stored `objects` lacks, `maxArea` under a stored `minArea`).
 */
async function analyticsForUpdate(
  tx: Tx,
  tenantId: string,
  stored: AnalyticsConfig | null,
  patch: AnalyticsConfigPatch | null,
): Promise<AnalyticsConfig | null> {
  if (patch === null) return null
  const current = analyticsConfigView(stored)
  const model = patch.model === undefined ? current.model : (patch.model ?? ANALYTICS_DEFAULTS.model)
  const labels = await labelsOfModel(tx, tenantId, model)
  const checked = parseAnalytics(analyticsConfigPatchSchema(labels), patch)
  return parseAnalytics(analyticsConfigSchema(labels), mergeAnalyticsConfig(current, checked))
}

/**
 * A stream named for analytics must be one the camera has: "sub" on a camera without one would
 * leave the agent unable to start (it never silently decodes the far costlier main stream).
 */
function assertAnalyticsStream(c: Camera): void {
  const stream = c.analytics?.stream
  if (stream && !c.streams.some((s) => s.role === stream))
    throw invalidAnalytics([
      {
        path: ['stream'],
        message: `the camera has no ${stream} stream: add it, or set stream to null (the agent then uses the sub stream when there is one, else the main one)`,
      },
    ])
}

/** Device protocols whose events the agent reads (and so the camera's motion): not plain rtsp. */
const MOTION_EVENT_PROTOCOLS: readonly string[] = ['onvif', 'isapi', 'dahua']

/**
 * Motion from the camera (`motionSource: "device"`) needs a device that tells the agent about it:
 * one of an events protocol with its events on. Without it the agent would see no motion at all
 * and detect nothing but what it already tracks.
 */
function assertMotionSource(c: Camera): void {
  if (c.analytics?.motionSource !== 'device') return
  const device = c.device
  const problem = !device
    ? 'the camera has no device'
    : !MOTION_EVENT_PROTOCOLS.includes(device.protocol)
      ? `its device is ${device.protocol}, which reports no motion`
      : !device.events
        ? "its device's events are off"
        : undefined
  if (problem)
    throw invalidAnalytics([
      {
        path: ['motionSource'],
        message: `motion from the camera needs its device (onvif, isapi or dahua) with events on, and ${problem}: give it one with events: true, or set motionSource to "agent"`,
      },
    ])
}

/** JSON with object keys sorted: jsonb stores keys in its own order, which is not a change. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

/** The analytics fields whose effective value (defaults applied) differs. */
function analyticsChanges(before: AnalyticsConfig | null, after: AnalyticsConfig | null): string[] {
  const a: Record<string, unknown> = analyticsConfigView(before)
  const b: Record<string, unknown> = analyticsConfigView(after)
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]))
    .sort()
}

/** What an audit record says about analytics: the settings, zones by name, masks by count. */
function analyticsForAudit(a: AnalyticsConfig | null) {
  if (!a) return null
  const { zones, motionMasks, objectMasks, ...settings } = a
  return {
    ...settings,
    zones: zones.map((zone) => zone.name),
    motionMasks: motionMasks.length,
    objectMasks: objectMasks.length,
  }
}

/** Tells the agents concerned; one that is away gets the configuration when it returns. */
export async function pushConfig(hub: HubContext, agentIds: (string | null | undefined)[]): Promise<void> {
  for (const id of new Set(agentIds.filter((a): a is string => Boolean(a)))) {
    await publishDesiredConfig(hub.db, hub.agents.bus, hub.secrets, id).catch((err: unknown) =>
      hub.logger.warn(
        { err, agentId: id },
        'could not publish a configuration; it goes down when the agent returns',
      ),
    )
  }
}

export async function auditCamera(
  hub: HubContext,
  ctx: Context,
  p: Principal,
  action: string,
  c: Camera,
  details?: Record<string, unknown>,
): Promise<void> {
  await hub.audit.record({
    action,
    outcome: 'success',
    tenantId: c.tenantId,
    target: { type: 'camera', id: c.id },
    ...auditSource(ctx, p),
    details: { name: c.name, siteId: c.siteId, ...details },
  })
  // An administrator's change shows at once in the consoles that see the camera.
  if (action === 'camera.create' || action === 'camera.update' || action === 'camera.delete')
    hub.updates.publish(cameraChange(c, action))
}

/**
 * The checks a device probe for a new camera of `siteId` passes before the agent is asked (so
 * nobody without `camera.manage` there makes a site's agent knock on devices): the site visible,
 * the permission, the agent one of the site's, connected. Throws the HttpError to answer.
 */
export async function assertMayProbeFor(
  hub: HubContext,
  principal: Principal,
  siteId: string,
  agentId: string,
): Promise<void> {
  await hub.db.withTenant(scopeOf(principal), async (tx) => {
    const s = await visibleSite(tx, principal, siteId)
    if (!can(principal, 'camera.manage', siteResource(s))) throw forbidden()
    await assertAgentServesSite(tx, agentId, s.id)
    const [row]: { status: string }[] = await tx.execute('select status from agents where id = ?', [agentId])
    if (row?.status !== 'online')
      throw new HttpError(
        503,
        'agent_offline',
        "the site's agent is not connected to the hub: it probes the device when it returns",
      )
  })
}

/** Asks the agent to probe a camera's device (its permission checked first), as the API answers. */
export async function probeForCamera(
  hub: HubContext,
  principal: Principal,
  siteId: string,
  agentId: string | null | undefined,
  device: Omit<NonNullable<CameraCreateBody['device']>, 'protocol'> & { protocol: ProbeProtocol | 'rtsp' },
): Promise<DeviceProbeResult> {
  if (device.protocol === 'rtsp')
    throw unprocessable('an rtsp camera has no device API to ask: give its streams', 'streams_required')
  if (!agentId)
    throw unprocessable(
      'the agent reaches the device: give agentId, or the streams themselves',
      'agent_required',
    )
  await assertMayProbeFor(hub, principal, siteId, agentId)
  try {
    return await probeDevice(
      hub.agents.requests,
      agentConfigKey(hub.secrets, agentId),
      agentId,
      hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
      {
        address: device.address,
        protocol: device.protocol,
        username: device.username ?? undefined,
        password: device.password ?? undefined,
      },
    )
  } catch (err) {
    throw agentError(err)
  }
}

/**
 * A camera's streams from its probed channel, dialled with the device's credentials (a device's
 * stream URLs carry none). A URL the agent reports that is not a storable rtsp:// URL is its fault.
 */
export function streamsOfChannel(
  result: DeviceProbeResult,
  device: NonNullable<CameraCreateBody['device']>,
): StreamInput[] {
  let channel: ReturnType<typeof channelFor>
  try {
    channel = channelFor(result, device.channel ?? '')
  } catch (err) {
    throw deviceError(err)
  }
  if (channel.streams.length === 0)
    throw unprocessable(`the device's channel "${channel.channel}" offers no stream`, 'no_streams')
  return channel.streams.map((s) => {
    if (!rtspUrl.safeParse(s.url).success)
      throw new HttpError(502, 'bad_agent_answer', 'the agent reported a stream URL that is not rtsp://')
    return {
      role: s.role,
      url: s.url,
      ...(device.username ? { username: device.username } : {}),
      ...(device.password ? { password: device.password } : {}),
    }
  })
}

export interface CreateOptions {
  /** The device's probe, when the caller already has it (a bulk import's NVR). */
  probed?: DeviceProbeResult
  /** Publish the agent's configuration now (a bulk import publishes once at its end). */
  publish?: boolean
}

/**
 * Creates a camera as `POST /api/v1/cameras` does, for that route and the bulk import alike: the
 * permission on the site, a unique name, the license's limit, the agent of its site, analytics
 * checked against their model, passwords sealed; with a device and no streams, the agent probes
 * the device first. Audited; the camera's agent gets its configuration (unless `publish: false`).
 */
export async function createCamera(
  hub: HubContext,
  ctx: Context,
  principal: Principal,
  body: CameraCreateBody,
  options: CreateOptions = {},
): Promise<{ camera: Camera; status: CameraStatus | null; probed: boolean }> {
  let streams = body.streams
  let probed = false
  if (streams === undefined && body.device) {
    const result =
      options.probed ?? (await probeForCamera(hub, principal, body.siteId, body.agentId, body.device))
    streams = streamsOfChannel(result, body.device)
    probed = true
  }
  const [created, statuses] = await hub.db.withTenant(scopeOf(principal), async (tx) => {
    const s = await visibleSite(tx, principal, body.siteId)
    if (!can(principal, 'camera.manage', siteResource(s))) throw forbidden()
    await assertUniqueName(tx, s.id, body.name)
    await lockTenant(tx, s.tenantId)
    await hub.licensing.assertCanAdd(tx, s.tenantId, 'cameras')
    if (body.agentId) await assertAgentServesSite(tx, body.agentId, s.id)
    const analytics =
      body.analytics === undefined ? null : await analyticsForCreate(tx, s.tenantId, body.analytics)
    const id = randomUUID()
    const owner = { cameraId: id, agentId: body.agentId ?? null }
    const c = tx.create(CameraSchema, {
      id,
      tenantId: s.tenantId,
      siteId: s.id,
      name: body.name,
      agentId: body.agentId ?? null,
      streams: sealed(hub, owner, streams ?? []),
      recording: body.recording,
      analytics,
      device: sealedDevice(hub, owner, body.device ?? null),
    } as Camera)
    assertAnalyticsStream(c)
    assertMotionSource(c)
    await tx.flush()
    if (c.agentId) await bumpConfigVersion(tx, c.agentId)
    return [c, await cameraStatuses(tx, [c])] as const
  })
  await auditCamera(hub, ctx, principal, 'camera.create', created, {
    agentId: created.agentId,
    streams: streamsForAudit(created),
    recording: created.recording,
    ...(created.analytics ? { analytics: analyticsForAudit(created.analytics) } : {}),
    ...(created.device ? { device: deviceForAudit(created), streamsFromProbe: probed } : {}),
  })
  if (options.publish !== false) await pushConfig(hub, [created.agentId])
  return { camera: created, status: statuses.get(created.id) ?? null, probed }
}

export function registerCameraRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, c: Camera, details?: Record<string, unknown>) =>
    auditCamera(hub, ctx, p, action, c, details)

  api.route({
    method: 'get',
    path: '/api/v1/cameras',
    tag: 'cameras',
    auth: 'user',
    summary: 'List the cameras you can see',
    query: paginationQuery.extend(tenantFilter.shape).extend({ siteId: idParams.shape.id.optional() }),
    responses: { 200: { description: 'Cameras', schema: page(camera) } },
    async handler(ctx, { query, principal }) {
      const vis = visibility(principal)
      const where: Record<string, unknown> = {}
      if (query.tenantId) where.tenantId = query.tenantId
      if (query.siteId) where.siteId = query.siteId
      if (!vis.all) where.$or = [{ siteId: { $in: [...vis.siteIds] } }, { id: { $in: [...vis.cameraIds] } }]
      const [items, total, statuses] = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const [found, count] = await tx.findAndCount(CameraSchema, where, {
          orderBy: { name: 'asc', id: 'asc' },
          limit: query.limit,
          offset: query.offset,
        })
        return [found, count, await cameraStatuses(tx, found)] as const
      })
      ctx.body = { items: items.map((c) => cameraDto(c, statuses.get(c.id) ?? null)), total }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/cameras',
    tag: 'cameras',
    auth: 'user',
    summary: 'Add a camera to a site, with the agent that records it and its streams',
    description:
      'With `device` and no `streams`, the hub asks the agent to probe the device (its username and ' +
      'password, sealed for the agent) and fills the streams of its channel in (`device.channel`; a ' +
      'device with several channels needs one named). The device password is write-only like the ' +
      "stream passwords: sealed for the camera's agent, never returned (`hasPassword`).",
    body: cameraCreate,
    responses: {
      201: { description: 'Created', schema: camera },
      422: {
        description:
          'A rule broken: unknown or revoked agent, agent of another site; for a probe DEVICE_AUTH, DEVICE_UNREACHABLE, DEVICE_PROTOCOL, channel_required, channel_unknown',
      },
      503: { description: 'A probe is needed and the agent is not connected' },
      504: { description: 'A probe is needed and the agent did not answer in time' },
    },
    async handler(ctx, { body, principal }) {
      const { camera: created, status } = await createCamera(hub, ctx, principal, body)
      ctx.status = 201
      ctx.body = cameraDto(created, status)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id',
    tag: 'cameras',
    auth: 'user',
    summary: 'Get a camera',
    params: idParams,
    responses: { 200: { description: 'The camera', schema: camera } },
    async handler(ctx, { params, principal }) {
      const [c, statuses] = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const found = await visibleCamera(tx, principal, params.id)
        return [found, await cameraStatuses(tx, [found])] as const
      })
      ctx.body = cameraDto(c, statuses.get(c.id) ?? null)
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/cameras/:id',
    tag: 'cameras',
    auth: 'user',
    summary:
      'Change a camera: name, site, agent, streams (passwords are write-only; a new host or agent needs them again), recording, analytics (a merge patch), device (protocol and address given again; an absent channel, username or events kept, its password only for the same address and agent)',
    params: idParams,
    body: cameraUpdate,
    responses: { 200: { description: 'The updated camera', schema: camera } },
    async handler(ctx, { params, body, principal }) {
      const { updated, previousAgent, passwordsChanged, analyticsBefore, statuses } = await hub.db.withTenant(
        scopeOf(principal),
        async (tx) => {
          const c = await visibleCamera(tx, principal, params.id)
          if (!can(principal, 'camera.manage', cameraResource(c))) throw forbidden()
          const previousAgent = c.agentId
          if (body.siteId !== undefined && body.siteId !== c.siteId) {
            const target = await visibleSite(tx, principal, body.siteId)
            if (target.tenantId !== c.tenantId)
              throw unprocessable('a camera cannot move to another tenant', 'cross_tenant')
            if (!can(principal, 'camera.manage', siteResource(target))) throw forbidden()
            c.siteId = target.id
          }
          if (body.name !== undefined) c.name = body.name
          if (body.name !== undefined || body.siteId !== undefined)
            await assertUniqueName(tx, c.siteId, c.name, c.id)
          if (body.agentId !== undefined) c.agentId = body.agentId
          if (c.agentId && (body.agentId !== undefined || body.siteId !== undefined))
            await assertAgentServesSite(tx, c.agentId, c.siteId)
          let passwordsChanged: string[] = []
          if (body.streams !== undefined)
            passwordsChanged = body.streams.filter((s) => s.password !== undefined).map((s) => s.role)
          // A move to another agent takes the stream passwords again, as a move to another host
          // does: the stored ones stay sealed for the agent they were given for (sealStreams).
          const moved = Boolean(c.agentId) && c.agentId !== previousAgent
          // The device password follows the same rules: a move needs it again.
          if (body.device !== undefined || (moved && c.device))
            c.device = sealedDevice(
              hub,
              { cameraId: c.id, agentId: c.agentId ?? null, previousAgentId: previousAgent ?? null },
              body.device === undefined ? unchangedDevice(c.device) : body.device,
              c.device,
            )
          if (body.streams !== undefined || moved)
            c.streams = sealed(
              hub,
              { cameraId: c.id, agentId: c.agentId ?? null, previousAgentId: previousAgent ?? null },
              body.streams ?? unchanged(c.streams),
              c.streams,
            )
          if (body.recording !== undefined) c.recording = { ...c.recording, ...body.recording }
          const analyticsBefore = c.analytics ?? null
          if (body.analytics !== undefined)
            c.analytics = await analyticsForUpdate(tx, c.tenantId, analyticsBefore, body.analytics)
          // Also when only the streams change: removing the sub stream analytics names is refused.
          if (body.analytics !== undefined || body.streams !== undefined) assertAnalyticsStream(c)
          // Also when only the device changes: removing it, or turning its events off, is refused
          // while the camera's motion comes from it.
          if (body.analytics !== undefined || body.device !== undefined) assertMotionSource(c)
          await tx.flush()
          for (const agentId of new Set([previousAgent, c.agentId]))
            if (agentId) await bumpConfigVersion(tx, agentId)
          return {
            updated: c,
            previousAgent,
            passwordsChanged,
            analyticsBefore,
            statuses: await cameraStatuses(tx, [c]),
          }
        },
      )
      await audit(ctx, principal, 'camera.update', updated, {
        fields: Object.keys(body),
        ...(body.agentId !== undefined ? { agentId: updated.agentId, previousAgentId: previousAgent } : {}),
        ...(body.streams !== undefined ? { streams: streamsForAudit(updated), passwordsChanged } : {}),
        ...(body.recording !== undefined ? { recording: updated.recording } : {}),
        ...(body.device !== undefined
          ? { device: deviceForAudit(updated), devicePasswordChanged: body.device?.password !== undefined }
          : {}),
        ...(body.analytics !== undefined
          ? {
              analyticsChanged: analyticsChanges(analyticsBefore, updated.analytics ?? null),
              analytics: analyticsForAudit(updated.analytics ?? null),
            }
          : {}),
      })
      await pushConfig(hub, [previousAgent, updated.agentId])
      if (previousAgent !== updated.agentId)
        await hub.live.endForCamera(updated.id, 'camera moved to another agent')
      ctx.body = cameraDto(updated, statuses.get(updated.id) ?? null)
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/cameras/:id/test-stream',
    tag: 'cameras',
    auth: 'user',
    summary: "Test a camera's stream: codec, picture size, measured frame rate and one still frame",
    description:
      "Asks the camera's agent (over its own outbound connection), which borrows the stream, waits for " +
      'a keyframe, times about two seconds of frames and decodes the keyframe to a JPEG at most 640 ' +
      'pixels wide (`still`, base64; null with `stillError` when the agent has no ffmpeg). Needs ' +
      '`camera.manage` on the camera. The still is never audited.',
    params: idParams,
    body: testStreamBody,
    responses: {
      200: { description: 'What the stream is, and a still frame', schema: cameraProbeResult },
      404: { description: 'No such camera (or not visible to you), or it has no such stream' },
      409: { description: 'The camera is not assigned to an agent' },
      502: { description: 'The agent answered something unreadable' },
      503: { description: 'The agent is not connected, or the camera sent no video in time' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, body, principal }) {
      const c = await reachableCamera(hub, principal, params.id, 'camera.manage')
      if (!c.streams.some((s) => s.role === body.stream))
        throw new HttpError(404, 'stream_unknown', `the camera has no ${body.stream} stream`)
      let result: CameraProbeResult
      try {
        result = await hub.agents.requests.callParsed(
          c.agentId,
          hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
          () => ({ op: 'camera.probe', cameraId: c.id, stream: body.stream }),
          cameraProbeResult,
        )
      } catch (err) {
        throw agentError(err)
      }
      // What the stream is, never the picture.
      await audit(ctx, principal, 'camera.test_stream', c, {
        agentId: c.agentId,
        stream: result.stream,
        codec: result.codec,
        width: result.width,
        height: result.height,
        fps: result.fps,
        still: result.still !== null,
      })
      ctx.body = result
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/cameras/:id',
    tag: 'cameras',
    auth: 'user',
    summary: 'Delete a camera',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, principal }) {
      const deleted = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const c = await visibleCamera(tx, principal, params.id)
        if (!can(principal, 'camera.manage', cameraResource(c))) throw forbidden()
        await tx.execute('delete from cameras where id = ?', [c.id])
        if (c.agentId) await bumpConfigVersion(tx, c.agentId)
        return c
      })
      await audit(ctx, principal, 'camera.delete', deleted, { agentId: deleted.agentId })
      await pushConfig(hub, [deleted.agentId])
      await hub.live.endForCamera(deleted.id, 'camera removed')
      ctx.status = 204
    },
  })
}
