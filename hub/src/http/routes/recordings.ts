import { createReadStream, rmSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import {
  type ExportMeta,
  exportMeta,
  type RecordedRangesResult,
  recordedRangesResult,
  type SegmentUploadMeta,
  segmentUploadMeta,
} from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { AgentRequestError } from '../../agents/agent-requests.ts'
import { AgentUploadError } from '../../agents/agent-upload.ts'
import type { Camera } from '../../db/entities.ts'
import { recordSignedExport, storedManifest } from '../../exports/signed-exports.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { PlaybackService, parsePartName } from '../../playback/playback-service.ts'
import { receiveSegment } from '../../playback/segment-upload.ts'
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
 * as a manifest, and streams to the user who asked. HLS playback (`playback.m3u8` and its
 * segments) goes the same way, segment by segment, through the hub's disk cache (see
 * playback/playback-service.ts and docs/media.md).
 */
const MAX_LIST_DAYS = 31
const MAX_EXPORT_HOURS = 24
const MAX_PLAYBACK_HOURS = 24
/** Playlists longer than this are sent gzipped to clients that accept it. */
const GZIP_PLAYLIST_BYTES = 8 * 1024

const playbackQuery = timeRangeQuery.refine(
  (q) => Date.parse(q.to) - Date.parse(q.from) <= MAX_PLAYBACK_HOURS * 3_600_000,
  { message: `a playlist covers at most ${MAX_PLAYBACK_HOURS} hours`, path: ['to'] },
)
const segmentParams = z.object({ id: z.uuid(), name: z.string().max(100) })
const segmentQuery = z.object({
  token: z.string().max(200).optional().describe('The playback token the playlist put in the address'),
})

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

const asHttpError = (err: unknown) =>
  err instanceof AgentRequestError ? new HttpError(err.status, err.code, err.message) : err

const auditCamera = (
  hub: HubContext,
  ctx: Context,
  p: Principal,
  action: string,
  c: Camera,
  details: Record<string, unknown>,
) =>
  hub.audit.record({
    action,
    outcome: 'success',
    tenantId: c.tenantId,
    target: { type: 'camera', id: c.id },
    ...auditSource(ctx, p),
    details: { name: c.name, siteId: c.siteId, agentId: c.agentId, ...details },
  })

/**
 * Has the camera's agent build and upload an MP4 of [from, to], records its manifest, audits it as
 * `camera.export` (with `details`) and sends the file as the response. The caller has checked the
 * camera (`reachableCamera` with `camera.export`). Shared by the export route and an event's clip.
 */
export async function sendExport(
  hub: HubContext,
  ctx: Context,
  principal: Principal,
  c: Camera & { agentId: string },
  from: Date,
  to: Date,
  details: Record<string, unknown> = {},
): Promise<void> {
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
    throw asHttpError(err)
  }
  const { file, meta } = uploaded
  try {
    const row = await hub.db.withTenant(scopeOf(principal), (tx) =>
      recordSignedExport<ExportRow>(hub, tx, {
        exportId,
        camera: c,
        agentId: c.agentId as string,
        requested: { from, to },
        meta,
        exportedBy: { userId: principal.userId, username: principal.username },
      }),
    )
    await auditCamera(hub, ctx, principal, 'camera.export', c, {
      ...details,
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
    ctx.set('X-VMS-Export-Id', exportId)
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
}

export function registerRecordingRoutes(api: Api, hub: HubContext): void {
  const asHttp = asHttpError
  const playback = new PlaybackService(hub)

  /** A playback segment the hub asked an agent for: verified, then handed to the waiting request. */
  const receivePlaybackUpload = async (ctx: Context, id: string) => {
    const refuse = (err: HttpError) => {
      // The viewer waiting for it gets an answer now rather than at the deadline.
      hub.agents.requests.fail(
        id,
        new AgentRequestError(502, 'bad_agent_upload', `the agent's upload was refused: ${err.message}`),
      )
      return err
    }
    const expected = playback.expectedUpload(id)
    if (!expected) throw new HttpError(410, 'not_expected', 'the hub stopped waiting for this upload')
    let meta: SegmentUploadMeta
    try {
      meta = segmentUploadMeta.parse(JSON.parse(ctx.get('x-vms-segment') || 'null'))
    } catch {
      throw refuse(
        new HttpError(400, 'invalid_segment_header', 'x-vms-segment must describe the segment (JSON)'),
      )
    }
    if (meta.kind !== expected.kind)
      throw refuse(new HttpError(400, 'wrong_kind', `the hub asked for ${expected.kind}, not ${meta.kind}`))
    const length = Number(ctx.get('content-length'))
    if (!ctx.get('content-length') || !Number.isInteger(length))
      throw refuse(new HttpError(411, 'length_required', 'an upload must declare its Content-Length'))
    if (length !== meta.bytes)
      throw refuse(new HttpError(400, 'length_mismatch', 'Content-Length differs from x-vms-segment'))
    const max = playback.maxBytes(meta.kind)
    if (length > max)
      throw refuse(
        new HttpError(413, 'payload_too_large', `playback ${meta.kind} uploads are limited to ${max} bytes`),
      )
    const file = path.join(playback.cache.incomingDir, `${id}.part`)
    try {
      await receiveSegment(ctx.req, file, { ...expected, bytes: meta.bytes, sha256: meta.sha256 })
    } catch (err) {
      if (err instanceof AgentUploadError) throw refuse(new HttpError(err.status, err.code, err.message))
      refuse(new HttpError(502, 'upload_failed', (err as Error).message))
      throw err
    }
    if (!hub.agents.requests.complete(id, file)) {
      rmSync(file, { force: true })
      throw new HttpError(410, 'not_expected', 'the hub stopped waiting for this upload')
    }
    ctx.status = 204
  }

  const audit = (ctx: Context, p: Principal, action: string, c: Camera, details: Record<string, unknown>) =>
    auditCamera(hub, ctx, p, action, c, details)

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
        result = await hub.agents.requests.callParsed(
          c.agentId,
          hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
          () => ({
            op: 'recordings.list',
            cameraId: c.id,
            from: from.toISOString(),
            to: to.toISOString(),
          }),
          recordedRangesResult,
        )
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
      await sendExport(hub, ctx, principal, c, from, to)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id/playback.m3u8',
    tag: 'recordings',
    auth: 'user',
    summary: 'A recorded range as an HLS playlist (fMP4 segments fetched from the agent through the hub)',
    description:
      `At most ${MAX_PLAYBACK_HOURS} hours. VOD (EXT-X-ENDLIST) for a range that has ended; EVENT (reload it) ` +
      'for one reaching into the future. Every segment has EXT-X-PROGRAM-DATE-TIME; EXT-X-DISCONTINUITY marks ' +
      'gaps and format changes (with a new EXT-X-MAP). Segment addresses are relative and carry a playback ' +
      'token (bound to this camera and user, valid for `VMS_PLAYBACK_TOKEN_SECONDS`): fetch them without ' +
      'an Authorization header; after a 401 fetch the playlist again. Watching is audited once per session ' +
      '(`camera.playback`), not per playlist reload or segment.',
    params: idParams,
    query: playbackQuery,
    responses: {
      200: { description: 'The playlist', contentType: 'application/vnd.apple.mpegurl' },
      404: {
        description: 'Not visible to the caller, or nothing recorded in the range (the message says why)',
      },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, query, principal }) {
      const from = new Date(query.from)
      const to = new Date(query.to)
      const c = await reachableCamera(hub, principal, params.id, 'camera.playback')
      const camera = { id: c.id, tenantId: c.tenantId, agentId: c.agentId }
      const files = await playback.segments(camera, from, to).catch((err: unknown) => {
        throw asHttpError(err)
      })
      const { token } = playback.tokens.sign({
        cameraId: c.id,
        userId: principal.userId,
        tenantId: principal.tenantId,
        sessionVersion: principal.sessionVersion,
      })
      const { text, segments } = playback.playlist(files, { toMs: to.getTime(), nowMs: Date.now(), token })
      if (segments === 0)
        throw new HttpError(404, 'range_unavailable', 'nothing playable has been recorded in this range yet')
      if (playback.sessions.begin(principal.userId, c.id, from.getTime(), to.getTime()))
        await audit(ctx, principal, 'camera.playback', c, {
          op: 'playback.hls',
          from: from.toISOString(),
          to: to.toISOString(),
          segments,
        })
      ctx.status = 200
      ctx.type = 'application/vnd.apple.mpegurl'
      ctx.set('Vary', 'Accept-Encoding')
      if (text.length > GZIP_PLAYLIST_BYTES && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
        ctx.set('Content-Encoding', 'gzip')
        ctx.body = await promisify(gzip)(text)
      } else ctx.body = text
    },
  })

  for (const kind of ['media', 'init'] as const)
    api.route({
      method: 'get',
      path:
        kind === 'media'
          ? '/api/v1/cameras/:id/playback/segments/:name'
          : '/api/v1/cameras/:id/playback/init/:name',
      tag: 'recordings',
      auth: 'public',
      summary:
        kind === 'media'
          ? 'A playback media segment (moof + mdat), as the playlist names it'
          : 'A playback init section (ftyp + moov), as the playlist names it',
      description:
        'Authorised by the `token` in the address (from the playlist), not a bearer token: 401 when it is ' +
        'missing, forged or expired, or the user can no longer sign in; 403 when it is for another camera or ' +
        'the permission was withdrawn. Fetched from the agent once and cached by the hub (`X-Cache`).',
      params: segmentParams,
      query: segmentQuery,
      responses: {
        200: {
          description: kind === 'media' ? 'The media segment' : 'The init section',
          contentType: kind === 'media' ? 'video/iso.segment' : 'video/mp4',
        },
        401: { description: 'No valid, unexpired playback token' },
        403: { description: 'The token is for another camera, or playback is no longer permitted' },
        404: { description: 'No such segment (or no longer on the agent)' },
        503: { description: 'The agent is not connected (and the segment is not cached)' },
        504: { description: 'The agent did not deliver in time' },
      },
      async handler(ctx, { params, query }) {
        const claims = playback.verifyToken(query.token, params.id)
        const part = parsePartName(kind, params.name)
        if (!part) throw notFound('segment')
        const camera = await playback.authorize(claims)
        const opened = await playback.open(camera, part).catch((err: unknown) => {
          throw asHttpError(err)
        })
        ctx.status = 200
        ctx.type = kind === 'media' ? 'video/iso.segment' : 'video/mp4'
        ctx.length = opened.bytes
        // Immutable for its address; private (the address carries the viewer's token).
        const maxAge = Math.max(0, claims.exp - Math.floor(Date.now() / 1000))
        ctx.set('Cache-Control', `private, max-age=${maxAge}, immutable`)
        ctx.set('X-Cache', opened.source)
        ctx.body = createReadStream('', { fd: opened.fd, autoClose: true })
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
    method: 'get',
    path: '/api/v1/exports/:id/manifest.json',
    tag: 'recordings',
    auth: 'user',
    summary: "An export's signed manifest (verify it offline with the keys at /.well-known/export-keys.json)",
    description:
      'Canonical JSON of camera, site, range, SHA-256 and size of the MP4, who exported it and when, the hub id ' +
      'and the key id, with `signature` (Ed25519, base64url). For the exporter and users with camera.export on the camera.',
    params: idParams,
    responses: { 200: { description: 'The signed manifest' } },
    async handler(ctx, { params, principal }) {
      const manifest = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const rows: ExportRow[] = await tx.execute('select * from exports where id = ?', [params.id])
        const row = rows[0]
        if (!row) throw notFound('export')
        const resource = {
          type: 'camera' as const,
          tenantId: row.tenant_id,
          siteId: row.site_id,
          cameraId: row.camera_id,
        }
        const exporter = row.created_by !== null && row.created_by === principal.userId
        if (!exporter && !can(principal, 'camera.export', resource)) throw notFound('export')
        const text = await storedManifest(tx, row.id)
        // Exports from before issue 16 were never signed.
        if (!text) throw notFound('export manifest')
        return text
      })
      ctx.type = 'application/json'
      ctx.set('Content-Disposition', `attachment; filename="export-${params.id}.manifest.json"`)
      ctx.body = manifest
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/agent/uploads/:id',
    tag: 'agents',
    auth: 'agent',
    summary: 'An agent delivers an export or a playback segment the hub asked it for',
    description:
      'Header `x-vms-export` (JSON) describes an export, including its length and SHA-256, which the hub verifies; ' +
      'header `x-vms-segment` (JSON: kind, bytes, sha256) a playback segment, whose length, SHA-256 and shape ' +
      '(ftyp + moov, or moof + mdat pairs) the hub verifies before caching it.',
    params: idParams,
    bodyContentType: 'video/mp4',
    responses: {
      204: { description: 'Received and verified' },
      410: { description: 'The hub no longer waits for this upload' },
    },
    async handler(ctx, { params, agent }) {
      if (hub.agents.requests.awaitingUpload(params.id, agent.id, 'recordings.segment')) {
        await receivePlaybackUpload(ctx, params.id)
        return
      }
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
        if (err instanceof AgentUploadError) throw new HttpError(err.status, err.code, err.message)
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
