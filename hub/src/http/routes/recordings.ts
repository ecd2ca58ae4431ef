import { createReadStream } from 'node:fs'
import { type ExportMeta, exportMeta, type RecordedRangesResult, recordedRangesResult } from '@ts-vms/shared'
import type { Context } from 'koa'
import { AgentRequestError } from '../../agents/agent-requests.ts'
import { ExportUploadError } from '../../cameras/export-store.ts'
import type { Camera } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { HttpError, notFound } from '../errors.ts'
import { exportManifest, idParams, recordings, timeRangeQuery } from '../schemas.ts'
import { reachableCamera } from './cameras.ts'

/**
 * Playback and export through NAT. The hub never connects to a site: it asks the camera's agent
 * over MQTT (`down/request`); the agent answers a listing on `up/response` and uploads an export
 * over HTTPS to `PUT /api/v1/agent/uploads/:id`, which the hub verifies (length, SHA-256), records
 * as a manifest, and streams to the user who asked.
 */
const MAX_LIST_DAYS = 31
const MAX_EXPORT_HOURS = 24

interface UploadedExport {
  file: string
  meta: ExportMeta
}

interface ExportRow {
  id: string
  tenant_id: string
  site_id: string
  camera_id: string
  agent_id: string
  requested_from: Date
  requested_to: Date
  start_at: Date
  end_at: Date
  sha256: string
  bytes: string | number
  frames: number
  codec: string
  width: number
  height: number
  truncated_at: Date | null
  created_by: string | null
  created_at: Date
}

const iso = (d: Date | string) => new Date(d).toISOString()

const manifestDto = (r: ExportRow) => ({
  id: r.id,
  tenantId: r.tenant_id,
  siteId: r.site_id,
  cameraId: r.camera_id,
  agentId: r.agent_id,
  requestedFrom: iso(r.requested_from),
  requestedTo: iso(r.requested_to),
  start: iso(r.start_at),
  end: iso(r.end_at),
  sha256: r.sha256,
  bytes: Number(r.bytes),
  frames: r.frames,
  codec: r.codec,
  width: r.width,
  height: r.height,
  truncatedAt: r.truncated_at ? iso(r.truncated_at) : null,
  createdBy: r.created_by,
  createdAt: iso(r.created_at),
})

/** A file name that is safe in a Content-Disposition header and on any file system. */
const fileName = (camera: string, start: string) =>
  `${camera.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'camera'}_${start.replace(/[:.]/g, '-')}.mp4`

export function registerRecordingRoutes(api: Api, hub: HubContext): void {
  const asHttp = (err: unknown) =>
    err instanceof AgentRequestError ? new HttpError(err.status, err.code, err.message) : err

  const audit = (ctx: Context, p: Principal, action: string, c: Camera, details: Record<string, unknown>) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: c.tenantId,
      target: { type: 'camera', id: c.id },
      ...auditSource(ctx, p),
      details: { name: c.name, siteId: c.siteId, agentId: c.agentId, ...details },
    })

  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id/recordings',
    tag: 'recordings',
    auth: 'user',
    summary: "What the camera's agent holds over a time range: recorded ranges and gaps",
    description: `Asks the agent (over its own outbound connection). The range may span up to ${MAX_LIST_DAYS} days.`,
    params: idParams,
    query: timeRangeQuery,
    responses: {
      200: { description: 'Recorded ranges and gaps', schema: recordings },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, query, principal }) {
      const from = new Date(query.from)
      const to = new Date(query.to)
      if (to.getTime() - from.getTime() > MAX_LIST_DAYS * 86_400_000)
        throw new HttpError(422, 'range_too_long', `list at most ${MAX_LIST_DAYS} days at a time`)
      const c = await reachableCamera(hub, principal, params.id, 'camera.playback')
      let result: RecordedRangesResult
      try {
        const raw = await hub.agents.requests.call<unknown>(
          c.agentId,
          hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
          () => ({
            op: 'recordings.list',
            cameraId: c.id,
            from: from.toISOString(),
            to: to.toISOString(),
          }),
        )
        const parsed = recordedRangesResult.safeParse(raw)
        if (!parsed.success)
          throw new HttpError(502, 'bad_agent_answer', 'the agent answered something unreadable')
        result = parsed.data
      } catch (err) {
        throw asHttp(err)
      }
      await audit(ctx, principal, 'camera.playback', c, {
        op: 'recordings.list',
        from: from.toISOString(),
        to: to.toISOString(),
      })
      ctx.body = { cameraId: c.id, from: from.toISOString(), to: to.toISOString(), ...result }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id/export.mp4',
    tag: 'recordings',
    auth: 'user',
    summary: 'A time range of the recording as one MP4 (remuxed, never transcoded)',
    description:
      'Starts at the keyframe at or before `from`. The agent builds the file and uploads it to the hub, ' +
      'which checks its SHA-256, keeps a manifest (`X-Export-Id`, `GET /api/v1/exports/{id}`) and streams it.',
    params: idParams,
    query: timeRangeQuery,
    responses: {
      200: { description: 'The MP4 file', contentType: 'video/mp4' },
      404: { description: 'The agent no longer holds (or never had) that range; the message says why' },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not deliver in time' },
    },
    async handler(ctx, { params, query, principal }) {
      const from = new Date(query.from)
      const to = new Date(query.to)
      if (to.getTime() - from.getTime() > MAX_EXPORT_HOURS * 3_600_000)
        throw new HttpError(422, 'range_too_long', `export at most ${MAX_EXPORT_HOURS} hours at a time`)
      const c = await reachableCamera(hub, principal, params.id, 'camera.export')
      let exportId = ''
      let uploaded: UploadedExport
      try {
        uploaded = await hub.agents.requests.call<UploadedExport>(
          c.agentId,
          hub.config.VMS_EXPORT_TIMEOUT_MS,
          (id) => {
            exportId = id
            return {
              op: 'recordings.export',
              cameraId: c.id,
              from: from.toISOString(),
              to: to.toISOString(),
              uploadPath: `/api/v1/agent/uploads/${id}`,
            }
          },
        )
      } catch (err) {
        throw asHttp(err)
      }
      const { file, meta } = uploaded
      try {
        const [row] = (await hub.db.withTenant(scopeOf(principal), (tx) =>
          tx.execute(
            `insert into exports (id, tenant_id, site_id, camera_id, agent_id, requested_from, requested_to,
               start_at, end_at, sha256, bytes, frames, codec, width, height, truncated_at, created_by)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning *`,
            [
              exportId,
              c.tenantId,
              c.siteId,
              c.id,
              c.agentId,
              from,
              to,
              new Date(meta.start),
              new Date(meta.end),
              meta.sha256,
              meta.bytes,
              meta.frames,
              meta.codec,
              meta.width,
              meta.height,
              meta.truncatedAt ? new Date(meta.truncatedAt) : null,
              principal.userId,
            ],
          ),
        )) as ExportRow[]
        await audit(ctx, principal, 'camera.export', c, {
          exportId,
          from: from.toISOString(),
          to: to.toISOString(),
          start: meta.start,
          end: meta.end,
          sha256: meta.sha256,
          bytes: meta.bytes,
        })
        ctx.status = 200
        ctx.type = 'video/mp4'
        ctx.length = meta.bytes
        ctx.set('Content-Disposition', `attachment; filename="${fileName(c.name, meta.start)}"`)
        ctx.set('X-Export-Id', exportId)
        ctx.set('X-Content-SHA256', meta.sha256)
        ctx.set('Repr-Digest', `sha-256=:${Buffer.from(meta.sha256, 'hex').toString('base64')}:`)
        ctx.set('Link', `</api/v1/exports/${row?.id ?? exportId}>; rel="describedby"`)
        const stream = createReadStream(file)
        ctx.res.once('close', () => hub.exports.remove(file))
        ctx.body = stream
      } catch (err) {
        hub.exports.remove(file)
        throw err
      }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/exports/:id',
    tag: 'recordings',
    auth: 'user',
    summary: "An export's manifest: the range, the actual start and end, and the file's SHA-256",
    params: idParams,
    responses: { 200: { description: 'The manifest', schema: exportManifest } },
    async handler(ctx, { params, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const rows: ExportRow[] = await tx.execute('select * from exports where id = ?', [params.id])
        const row = rows[0]
        if (!row) throw notFound('export')
        const resource = {
          type: 'camera' as const,
          tenantId: row.tenant_id,
          siteId: row.site_id,
          cameraId: row.camera_id,
        }
        if (!can(principal, 'camera.export', resource)) throw notFound('export')
        return manifestDto(row)
      })
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/agent/uploads/:id',
    tag: 'agents',
    auth: 'agent',
    summary: 'An agent delivers an export the hub asked it for',
    description:
      'Header `x-vms-export` (JSON) describes the file, including its length and SHA-256, which the hub verifies.',
    params: idParams,
    bodyContentType: 'video/mp4',
    responses: {
      204: { description: 'Received and verified' },
      410: { description: 'The hub no longer waits for this upload' },
    },
    async handler(ctx, { params, agent }) {
      if (!hub.agents.requests.awaitingUpload(params.id, agent.id))
        throw new HttpError(
          410,
          'not_expected',
          'the hub is not waiting for this upload (late, or not yours)',
        )
      let meta: ExportMeta
      try {
        meta = exportMeta.parse(JSON.parse(ctx.get('x-vms-export') || 'null'))
      } catch {
        throw new HttpError(400, 'invalid_export_header', 'x-vms-export must describe the file (JSON)')
      }
      const length = Number(ctx.get('content-length'))
      if (!ctx.get('content-length') || !Number.isInteger(length))
        throw new HttpError(411, 'length_required', 'an upload must declare its Content-Length')
      if (length !== meta.bytes)
        throw new HttpError(400, 'length_mismatch', 'Content-Length differs from x-vms-export')
      if (length > hub.config.VMS_EXPORT_MAX_BYTES)
        throw new HttpError(
          413,
          'payload_too_large',
          `exports are limited to ${hub.config.VMS_EXPORT_MAX_BYTES} bytes`,
        )
      let file: string
      try {
        file = await hub.exports.receive(params.id, ctx.req, meta)
      } catch (err) {
        if (err instanceof ExportUploadError) throw new HttpError(err.status, err.code, err.message)
        throw err
      }
      if (!hub.agents.requests.complete(params.id, { file, meta } satisfies UploadedExport)) {
        hub.exports.remove(file)
        throw new HttpError(410, 'not_expected', 'the hub stopped waiting for this upload')
      }
      ctx.status = 204
    },
  })
}
