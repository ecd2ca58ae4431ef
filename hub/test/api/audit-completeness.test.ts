import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { DownRequest } from '@ts-vms/shared'
import { LiveFanout, type PeerOptions, ReceivingPeer, SendingPeer } from '@ts-vms/shared/live'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTE_AUDIT, routeKey } from '../../src/audit/audited-routes.ts'
import { buildApi } from '../../src/http/app.ts'
import { HubMetrics } from '../../src/observability/metrics.ts'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { type Answer, connectFakeAgent, type FakeAgent, waitFor } from '../helpers/fake-agent.ts'
import { issueTestLicense } from '../helpers/licenses.ts'
import {
  type ApiResponse,
  createTenantWithAdmin,
  type RequestOptions,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
} from '../helpers/test-hub.ts'

/**
 * Audit completeness (issue 16). Every route of the API registry is classified in
 * hub/src/audit/audited-routes.ts: a route added without a classification fails here. Every route
 * classified `audited` is then called here, for real (a fake agent over MQTT answers what the hub
 * asks, uploads exports, and answers live offers with a real WebRTC peer), and must have written an
 * `audit_events` row with its action, outcome success, the caller as actor and the right target.
 */
let t: TestHub
let sys: string
let sysId: string
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let siteId: string
let north: Enrolled
let offline: Enrolled
let agent: FakeAgent
let cameraId: string
let offlineCameraId: string
const peers: { close(): Promise<void> }[] = []
const peerOptions: PeerOptions = { iceServers: [], additionalHostAddresses: ['127.0.0.1'] }

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9])
const MODEL_FILE = path.resolve(import.meta.dirname, '../../../../shared/models/yolox_nano.onnx')
const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString()
const later = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString()

/** Uploads a made-up MP4 for a `recordings.export` request, as an agent does. */
async function uploadExport(r: DownRequest & { op: 'recordings.export' }): Promise<void> {
  const body = randomBytes(4096)
  const meta = {
    sha256: createHash('sha256').update(body).digest('hex'),
    bytes: body.length,
    start: r.from,
    end: r.to,
    frames: 25,
    codec: 'h264',
    width: 640,
    height: 360,
    segments: 1,
  }
  const res = await fetch(t.url + r.uploadPath, {
    method: 'PUT',
    headers: {
      authorization: `Basic ${Buffer.from(`${north.agentId}:${north.secret}`).toString('base64')}`,
      'content-type': 'video/mp4',
      'x-vms-export': JSON.stringify(meta),
    },
    body,
  })
  if (res.status !== 204) throw new Error(`upload: ${res.status} ${await res.text()}`)
}

/** The fake agent: canned answers, a real WebRTC answer for an upstream, an upload for an export. */
async function answer(r: DownRequest): Promise<Answer | undefined> {
  const ok = (result: unknown): Answer => ({ ok: true, result })
  switch (r.op) {
    case 'live.offer': {
      if (r.mode === 'direct') return ok({ sdp: 'v=0 (a direct answer, passed through)', stream: r.stream })
      const peer = await SendingPeer.answer(r.sdp, new LiveFanout(), undefined, peerOptions)
      peers.push(peer)
      return ok({ sdp: peer.answerSdp, stream: r.stream })
    }
    case 'recordings.list':
      return ok({ ranges: [], gaps: [] })
    case 'recordings.segments': {
      const start = Date.parse(r.from)
      return ok({
        files: [{ file: 1, startMs: start, init: 'a'.repeat(32), open: false, parts: [[0, 4, start, 4000]] }],
      })
    }
    case 'recordings.export':
      await uploadExport(r)
      return undefined
    case 'camera.snapshot':
    case 'device.snapshot':
      return ok({ contentType: 'image/jpeg', base64: JPEG.toString('base64'), source: 'device' })
    case 'camera.ptz':
      return ok({})
    case 'camera.probe':
      return ok({ stream: 'main', codec: 'h264', width: 640, height: 360, fps: 25, still: null })
    case 'device.discover':
      return ok({ devices: [] })
    case 'device.probe': {
      const host = r.address.replace(/:\d+$/, '')
      return ok({
        device: {
          address: host,
          port: 80,
          manufacturer: 'Hikvision',
          model: 'DS-2CD2143G2',
          firmware: 'V5.7.3',
          serial: `SN-${host}`,
          mac: '44:19:b6:00:00:01',
          name: `Camera ${host}`,
          protocols: ['onvif', 'isapi', 'rtsp'],
          onvifUrl: `http://${host}/onvif/device_service`,
          protocol: 'isapi',
        },
        channels: [
          {
            channel: '1',
            name: 'Camera 01',
            streams: [
              {
                role: 'main',
                url: `rtsp://${host}:554/Streaming/Channels/101`,
                codec: 'h264',
                width: 1920,
                height: 1080,
                fps: 25,
              },
            ],
            snapshot: true,
            ptz: false,
          },
        ],
      })
    }
    default:
      return { ok: false, error: { status: 404, code: 'unknown_op', message: 'not played by this test' } }
  }
}

/** Resolves with `find()`'s first defined value, polling every 20 ms (throws after `ms`). */
async function poll<T>(find: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const found = await find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const req = (method: string, p: string, options: RequestOptions = {}) =>
  t.request(method, p, { token: acme.token, ...options })

async function created(what: string, res: Promise<ApiResponse>): Promise<any> {
  const r = await res
  if (r.status !== 201 && r.status !== 202) throw new Error(`${what}: ${r.status} ${r.text}`)
  return r.body
}

const newSite = async () =>
  (
    await created(
      'site',
      req('POST', '/api/v1/sites', { body: { name: `Site ${randomUUID().slice(0, 8)}` } }),
    )
  ).id as string
const newCamera = async (body: Record<string, unknown> = {}) =>
  (
    await created(
      'camera',
      req('POST', '/api/v1/cameras', {
        body: {
          name: `Cam ${randomUUID().slice(0, 8)}`,
          siteId,
          agentId: north.agentId,
          streams: [{ role: 'main', url: 'rtsp://10.0.0.9:554/stream1' }],
          ...body,
        },
      }),
    )
  ).id as string
const newUser = async (extra: Record<string, unknown> = {}) =>
  (
    await created(
      'user',
      req('POST', '/api/v1/users', {
        body: { username: `u${randomUUID().slice(0, 8)}`, password: USER_PASSWORD, ...extra },
      }),
    )
  ).id as string
const newChannel = async () =>
  (
    await created(
      'channel',
      req('POST', '/api/v1/notification-channels', {
        body: { name: `Ops ${randomUUID().slice(0, 8)}`, type: 'email', to: ['ops@acme.example'] },
      }),
    )
  ).id as string
const newRule = async () =>
  (
    await created(
      'rule',
      req('POST', '/api/v1/alarm-rules', {
        body: {
          name: `Disk ${randomUUID().slice(0, 8)}`,
          kind: 'disk.full',
          priority: 2,
          channels: [],
          scope: { type: 'tenant' },
          params: { percent: 90 },
        },
      }),
    )
  ).id as string
const newAlarm = async (state: 'open' | 'acknowledged') => {
  const id = randomUUID()
  await t.db.adminQuery(
    `insert into alarms (id, tenant_id, kind, priority, target, state, site_id, agent_id, camera_id)
     values ($1, $2, 'camera.offline', 2, $3, $4, $5, $6, $7)`,
    [id, acme.tenantId, `camera:${id}`, state, siteId, north.agentId, cameraId],
  )
  return id
}
const newLock = async () =>
  (
    await created(
      'lock',
      req('POST', '/api/v1/evidence-locks', {
        body: { cameraIds: [cameraId], from: ago(3600), to: ago(60), reason: 'Theft', until: later(86_400) },
      }),
    )
  ).id as string
const newCase = async (clipCamera = cameraId) =>
  (await created(
    'case',
    req('POST', '/api/v1/cases', {
      body: {
        name: `Case ${randomUUID().slice(0, 8)}`,
        clips: [{ cameraId: clipCamera, from: ago(120), to: ago(60) }],
      },
    }),
  )) as { id: string; clips: { id: string }[] }
const settledCase = (id: string) =>
  poll(async () => {
    const c = await req('GET', `/api/v1/cases/${id}`)
    return c.body.clips.every((x: { state: string }) => x.state !== 'collecting') ? c.body : undefined
  }, 'the case to settle')
const newRole = async () =>
  (
    await created(
      'role',
      req('POST', '/api/v1/roles', {
        body: { name: `r${randomUUID().slice(0, 8)}`, permissions: ['camera.live'] },
      }),
    )
  ).id as string
const newView = async () =>
  (
    await created(
      'view',
      req('POST', '/api/v1/views', {
        body: { name: `v${randomUUID().slice(0, 8)}`, layout: '1', cameraIds: [] },
      }),
    )
  ).id as string
const newEvent = async (snapshot: boolean) => {
  const objectId = randomUUID()
  const { rows } = await t.db.adminQuery(
    `insert into events (tenant_id, agent_id, site_id, camera_id, seq, type, time, data, object_id)
     values ($1, $2, $3, $4, (select coalesce(max(seq), 0) + 1 from events), 'object', $5, $6::jsonb, $7)
     returning id`,
    [
      acme.tenantId,
      north.agentId,
      siteId,
      cameraId,
      ago(120),
      JSON.stringify({
        label: 'person',
        score: 0.8,
        startTime: ago(120),
        endTime: ago(90),
        zones: [],
        box: [0.1, 0.2, 0.3, 0.6],
        stationary: false,
        loitering: false,
        hasSnapshot: true,
      }),
      objectId,
    ],
  )
  const id = String(rows[0]?.id)
  if (snapshot)
    await t.db.adminQuery(
      `insert into event_snapshots (event_id, variant, tenant_id, jpeg, width, height) values ($1, 'full', $2, $3, 640, 360)`,
      [id, acme.tenantId, JPEG],
    )
  return id
}
/** A live session of the tenant admin's (direct: the fake agent's answer is passed through). */
const newLiveSession = async () =>
  (
    await created(
      'live session',
      req('POST', `/api/v1/cameras/${cameraId}/live`, {
        body: { type: 'offer', sdp: await browserOffer(), mode: 'direct' },
      }),
    )
  ).sessionId as string
const browserOffer = async (tiles = 1) => {
  const peer = await ReceivingPeer.offerBundle(
    Array.from({ length: tiles }, () => new LiveFanout()),
    peerOptions,
  )
  peers.push(peer)
  return peer.offerSdp
}

/**
 * A call of a route: `call` makes the request (setup done before it), `target` is the record's
 * target id when it names one, `actor` the user it must name (the tenant admin by default).
 */
interface Call {
  call: () => Promise<ApiResponse | Response>
  target?: string | null
  /** null: not a user (an agent enrolling). */
  actor?: string | null
  status?: number
}
type Builder = () => Promise<Call>

const builders: Record<string, Builder> = {
  // Authentication
  'POST /api/v1/auth/login': async () => {
    const id = await newUser()
    const username = (await req('GET', `/api/v1/users/${id}`)).body.username
    return {
      call: () =>
        t.request('POST', '/api/v1/auth/login', {
          body: { tenant: 'acme', username, password: USER_PASSWORD },
        }),
      actor: id,
      status: 200,
    }
  },
  'POST /api/v1/auth/logout': async () => {
    const id = await newUser()
    const username = (await req('GET', `/api/v1/users/${id}`)).body.username
    const tokens = await t.login('acme', username, USER_PASSWORD)
    return {
      call: () => t.request('POST', '/api/v1/auth/logout', { body: { refreshToken: tokens.refreshToken } }),
      actor: id,
    }
  },
  'POST /api/v1/auth/password-reset': async () => {
    const email = `${randomUUID().slice(0, 8)}@acme.example`
    const id = await newUser({ email })
    return {
      call: () => t.request('POST', '/api/v1/auth/password-reset', { body: { tenant: 'acme', email } }),
      actor: id,
      target: id,
    }
  },
  'POST /api/v1/auth/password-reset/confirm': async () => {
    const email = `${randomUUID().slice(0, 8)}@acme.example`
    const id = await newUser({ email })
    await t.request('POST', '/api/v1/auth/password-reset', { body: { tenant: 'acme', email } })
    const token = await waitFor(() => {
      const text = t.logs.entries().findLast((e) => e.mailTo === email)?.mailText as string | undefined
      return text?.match(/[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}/)?.[0]
    }, 'the reset mail')
    return {
      call: () =>
        t.request('POST', '/api/v1/auth/password-reset/confirm', {
          body: { token, password: 'Brass-Meadow-Kettle-2048' },
        }),
      actor: id,
      target: id,
    }
  },

  // Tenants, sites, agents
  'POST /api/v1/tenants': async () => ({
    call: () =>
      t.request('POST', '/api/v1/tenants', {
        token: sys,
        body: { slug: `t${randomUUID().slice(0, 8)}`, name: 'T' },
      }),
    actor: sysId,
  }),
  'PATCH /api/v1/tenants/:id': async () => ({
    call: () =>
      t.request('PATCH', `/api/v1/tenants/${acme.tenantId}`, { token: sys, body: { name: 'Acme Retail' } }),
    target: acme.tenantId,
    actor: sysId,
    status: 200,
  }),
  'DELETE /api/v1/tenants/:id': async () => {
    const tenant = await created(
      'tenant',
      t.request('POST', '/api/v1/tenants', {
        token: sys,
        body: { slug: `t${randomUUID().slice(0, 8)}`, name: 'T' },
      }),
    )
    return {
      call: () => t.request('DELETE', `/api/v1/tenants/${tenant.id}`, { token: sys }),
      target: tenant.id,
      actor: sysId,
    }
  },
  'POST /api/v1/sites': async () => ({
    call: () => req('POST', '/api/v1/sites', { body: { name: `S ${randomUUID()}` } }),
  }),
  'PATCH /api/v1/sites/:id': async () => {
    const id = await newSite()
    return {
      call: () => req('PATCH', `/api/v1/sites/${id}`, { body: { name: `Renamed ${id}` } }),
      target: id,
    }
  },
  'DELETE /api/v1/sites/:id': async () => {
    const id = await newSite()
    return { call: () => req('DELETE', `/api/v1/sites/${id}`), target: id }
  },
  'POST /api/v1/sites/:id/enrollments': async () => ({
    call: () => req('POST', `/api/v1/sites/${siteId}/enrollments`),
  }),
  'POST /api/v1/enroll': async () => {
    const code = (await created('code', req('POST', `/api/v1/sites/${siteId}/enrollments`))).code
    return {
      call: () => t.request('POST', '/api/v1/enroll', { body: { code, name: 'another' } }),
      actor: null,
    }
  },
  'PATCH /api/v1/agents/:id': async () => ({
    call: () => req('PATCH', `/api/v1/agents/${offline.agentId}`, { body: { name: 'Back office' } }),
    target: offline.agentId,
  }),
  'DELETE /api/v1/agents/:id': async () => {
    const spare = await enrollAgentAt(t, siteId, acme.token, 'spare')
    return { call: () => req('DELETE', `/api/v1/agents/${spare.agentId}`), target: spare.agentId }
  },
  'PUT /api/v1/agents/:id/config': async () => ({
    call: () =>
      req('PUT', `/api/v1/agents/${offline.agentId}/config`, { body: { config: { heartbeatSeconds: 5 } } }),
    target: offline.agentId,
  }),

  // Cameras and devices
  'POST /api/v1/cameras': async () => ({
    call: () =>
      req('POST', '/api/v1/cameras', {
        body: {
          name: 'New',
          siteId,
          agentId: north.agentId,
          streams: [{ role: 'main', url: 'rtsp://10.0.0.7/s' }],
        },
      }),
  }),
  'PATCH /api/v1/cameras/:id': async () => {
    const id = await newCamera()
    return {
      call: () => req('PATCH', `/api/v1/cameras/${id}`, { body: { name: `Renamed ${id}` } }),
      target: id,
    }
  },
  'DELETE /api/v1/cameras/:id': async () => {
    const id = await newCamera()
    return { call: () => req('DELETE', `/api/v1/cameras/${id}`), target: id }
  },
  'POST /api/v1/cameras/:id/test-stream': async () => ({
    call: () => req('POST', `/api/v1/cameras/${cameraId}/test-stream`, { body: { stream: 'main' } }),
    target: cameraId,
  }),
  'POST /api/v1/cameras/bulk': async () => ({
    call: () =>
      req('POST', '/api/v1/cameras/bulk', {
        body: {
          cameras: [
            {
              name: 'Bulk',
              siteId,
              agentId: north.agentId,
              streams: [{ role: 'main', url: 'rtsp://10.0.0.8/s' }],
            },
          ],
        },
      }),
  }),
  'POST /api/v1/agents/:id/discover': async () => ({
    call: () => req('POST', `/api/v1/agents/${north.agentId}/discover`, { body: { targets: ['10.0.0.21'] } }),
    target: north.agentId,
  }),
  'POST /api/v1/agents/:id/probe': async () => ({
    call: () => req('POST', `/api/v1/agents/${north.agentId}/probe`, { body: { address: '10.0.0.31' } }),
    target: north.agentId,
  }),
  'POST /api/v1/agents/:id/probe/snapshot': async () => ({
    call: () =>
      req('POST', `/api/v1/agents/${north.agentId}/probe/snapshot`, {
        body: { address: '10.0.0.31', protocol: 'isapi', channel: '1' },
      }),
    target: north.agentId,
  }),
  'GET /api/v1/cameras/:id/snapshot.jpg': async () => ({
    call: () => req('GET', `/api/v1/cameras/${cameraId}/snapshot.jpg`),
    target: cameraId,
  }),
  'POST /api/v1/cameras/:id/ptz': async () => ({
    call: () => req('POST', `/api/v1/cameras/${cameraId}/ptz`, { body: { action: 'home' } }),
    target: cameraId,
  }),

  // Live view
  'POST /api/v1/cameras/:id/live': async () => ({
    call: async () =>
      req('POST', `/api/v1/cameras/${cameraId}/live`, {
        body: { type: 'offer', sdp: await browserOffer(), mode: 'direct' },
      }),
    target: cameraId,
  }),
  'POST /api/v1/live/offers': async () => ({
    call: async () =>
      req('POST', '/api/v1/live/offers', {
        body: { offers: [{ cameraId, type: 'offer', sdp: await browserOffer(), mode: 'direct' }] },
      }),
    target: cameraId,
  }),
  'POST /api/v1/live/grid': async () => {
    const sdp = await browserOffer(1)
    return {
      call: () => req('POST', '/api/v1/live/grid', { body: { type: 'offer', sdp, tiles: [{ cameraId }] } }),
      target: cameraId,
    }
  },
  'POST /api/v1/cameras/:id/whep': async () => {
    const sdp = await browserOffer(1)
    return {
      call: () =>
        req('POST', `/api/v1/cameras/${cameraId}/whep`, {
          rawBody: sdp,
          headers: { 'content-type': 'application/sdp' },
        }),
      target: cameraId,
    }
  },
  'DELETE /api/v1/live/:sessionId': async () => {
    const id = await newLiveSession()
    return { call: () => req('DELETE', `/api/v1/live/${id}`), target: cameraId }
  },
  'POST /api/v1/live/:sessionId/renew': async () => {
    const id = await newLiveSession()
    return { call: () => req('POST', `/api/v1/live/${id}/renew`), target: cameraId, status: 200 }
  },
  'POST /api/v1/live/:sessionId/terminate': async () => {
    const id = await newLiveSession()
    return { call: () => req('POST', `/api/v1/live/${id}/terminate`), target: cameraId }
  },

  // Recordings, playback and exports
  'GET /api/v1/cameras/:id/recordings': async () => ({
    call: () => req('GET', `/api/v1/cameras/${cameraId}/recordings?from=${ago(3600)}&to=${ago(0)}`),
    target: cameraId,
  }),
  'GET /api/v1/cameras/:id/playback.m3u8': async () => ({
    call: () => req('GET', `/api/v1/cameras/${cameraId}/playback.m3u8?from=${ago(600)}&to=${ago(60)}`),
    target: cameraId,
  }),
  'GET /api/v1/cameras/:id/export.mp4': async () => ({
    call: () => req('GET', `/api/v1/cameras/${cameraId}/export.mp4?from=${ago(120)}&to=${ago(60)}`),
    target: cameraId,
  }),
  'GET /api/v1/events/:id/snapshot.jpg': async () => {
    const id = await newEvent(true)
    return { call: () => req('GET', `/api/v1/events/${id}/snapshot.jpg`), target: cameraId }
  },
  'GET /api/v1/events/:id/clip.mp4': async () => {
    const id = await newEvent(false)
    return { call: () => req('GET', `/api/v1/events/${id}/clip.mp4`), target: cameraId }
  },
  'POST /api/v1/bookmarks': async () => ({
    call: () =>
      req('POST', '/api/v1/bookmarks', { body: { cameraId, from: ago(120), to: ago(60), title: 'Here' } }),
  }),
  'DELETE /api/v1/bookmarks/:id': async () => {
    const b = await created(
      'bookmark',
      req('POST', '/api/v1/bookmarks', { body: { cameraId, from: ago(120), to: ago(60), title: 'Gone' } }),
    )
    return { call: () => req('DELETE', `/api/v1/bookmarks/${b.id}`), target: b.id }
  },

  // Evidence
  'POST /api/v1/evidence-locks': async () => ({
    call: () =>
      req('POST', '/api/v1/evidence-locks', {
        body: { cameraIds: [cameraId], from: ago(3600), to: ago(60), reason: 'Theft', until: later(86_400) },
      }),
  }),
  'DELETE /api/v1/evidence-locks/:id': async () => {
    const id = await newLock()
    return {
      call: () => req('DELETE', `/api/v1/evidence-locks/${id}`, { body: { reason: 'Released' } }),
      target: id,
    }
  },
  'POST /api/v1/cases': async () => ({
    call: () =>
      req('POST', '/api/v1/cases', {
        body: { name: 'Till', clips: [{ cameraId, from: ago(120), to: ago(60) }] },
      }),
  }),
  'PATCH /api/v1/cases/:id': async () => {
    const c = await newCase()
    return {
      call: () => req('PATCH', `/api/v1/cases/${c.id}`, { body: { description: 'More' } }),
      target: c.id,
      status: 200,
    }
  },
  'POST /api/v1/cases/:id/notes': async () => {
    const c = await newCase()
    return {
      call: () => req('POST', `/api/v1/cases/${c.id}/notes`, { body: { text: 'Seen' } }),
      target: c.id,
    }
  },
  'POST /api/v1/cases/:id/clips/:clipId/retry': async () => {
    // A clip of a camera whose agent is offline fails; the retry is audited.
    const c = await newCase(offlineCameraId)
    await settledCase(c.id)
    return { call: () => req('POST', `/api/v1/cases/${c.id}/clips/${c.clips[0]?.id}/retry`), target: c.id }
  },
  'DELETE /api/v1/cases/:id': async () => {
    const c = await newCase()
    return { call: () => req('DELETE', `/api/v1/cases/${c.id}`), target: c.id }
  },
  'GET /api/v1/cases/:id/download.zip': async () => {
    const c = await newCase()
    await settledCase(c.id)
    return { call: () => req('GET', `/api/v1/cases/${c.id}/download.zip`), target: c.id }
  },

  // Alarms and notifications
  'POST /api/v1/alarm-rules': async () => ({
    call: () =>
      req('POST', '/api/v1/alarm-rules', {
        body: {
          name: 'Disk',
          kind: 'disk.full',
          priority: 2,
          channels: [],
          scope: { type: 'tenant' },
          params: { percent: 95 },
        },
      }),
  }),
  'PATCH /api/v1/alarm-rules/:id': async () => {
    const id = await newRule()
    return {
      call: () => req('PATCH', `/api/v1/alarm-rules/${id}`, { body: { enabled: false } }),
      target: id,
      status: 200,
    }
  },
  'DELETE /api/v1/alarm-rules/:id': async () => {
    const id = await newRule()
    return { call: () => req('DELETE', `/api/v1/alarm-rules/${id}`), target: id }
  },
  'POST /api/v1/alarms/:id/acknowledge': async () => {
    const id = await newAlarm('open')
    return { call: () => req('POST', `/api/v1/alarms/${id}/acknowledge`, { body: {} }), target: id }
  },
  'POST /api/v1/alarms/:id/close': async () => {
    const id = await newAlarm('acknowledged')
    return { call: () => req('POST', `/api/v1/alarms/${id}/close`, { body: {} }), target: id }
  },
  'POST /api/v1/notification-channels': async () => ({
    call: () =>
      req('POST', '/api/v1/notification-channels', {
        body: { name: 'Mail', type: 'email', to: ['soc@acme.example'] },
      }),
  }),
  'PATCH /api/v1/notification-channels/:id': async () => {
    const id = await newChannel()
    return {
      call: () => req('PATCH', `/api/v1/notification-channels/${id}`, { body: { enabled: false } }),
      target: id,
      status: 200,
    }
  },
  'DELETE /api/v1/notification-channels/:id': async () => {
    const id = await newChannel()
    return { call: () => req('DELETE', `/api/v1/notification-channels/${id}`), target: id }
  },
  'POST /api/v1/notification-channels/:id/test': async () => {
    const id = await newChannel()
    return { call: () => req('POST', `/api/v1/notification-channels/${id}/test`), target: id }
  },
  'POST /api/v1/notification-deliveries/:id/retry': async () => {
    const channel = await newChannel()
    const id = randomUUID()
    await t.db.adminQuery(
      `insert into notification_deliveries (id, tenant_id, channel_id, event, payload, state, attempts, last_error)
       values ($1, $2, $3, 'test', '{}'::jsonb, 'dead', 3, 'refused')`,
      [id, acme.tenantId, channel],
    )
    return { call: () => req('POST', `/api/v1/notification-deliveries/${id}/retry`), target: id }
  },

  // Users, roles, views
  'POST /api/v1/users': async () => ({
    call: () =>
      req('POST', '/api/v1/users', {
        body: { username: `u${randomUUID().slice(0, 8)}`, password: USER_PASSWORD },
      }),
  }),
  'PATCH /api/v1/users/:id': async () => {
    const id = await newUser()
    return {
      call: () => req('PATCH', `/api/v1/users/${id}`, { body: { displayName: 'Lee' } }),
      target: id,
      status: 200,
    }
  },
  'DELETE /api/v1/users/:id': async () => {
    const id = await newUser()
    return { call: () => req('DELETE', `/api/v1/users/${id}`), target: id }
  },
  'POST /api/v1/users/:id/role-bindings': async () => {
    const id = await newUser()
    return {
      call: () =>
        req('POST', `/api/v1/users/${id}/role-bindings`, {
          body: { role: 'viewer', scope: { type: 'site', id: siteId } },
        }),
    }
  },
  'DELETE /api/v1/users/:id/role-bindings/:bindingId': async () => {
    const id = await newUser()
    const b = await created(
      'binding',
      req('POST', `/api/v1/users/${id}/role-bindings`, {
        body: { role: 'viewer', scope: { type: 'site', id: siteId } },
      }),
    )
    return { call: () => req('DELETE', `/api/v1/users/${id}/role-bindings/${b.id}`) }
  },
  'POST /api/v1/roles': async () => ({
    call: () =>
      req('POST', '/api/v1/roles', {
        body: { name: `r${randomUUID().slice(0, 8)}`, permissions: ['camera.live'] },
      }),
  }),
  'PATCH /api/v1/roles/:id': async () => {
    const id = await newRole()
    return {
      call: () =>
        req('PATCH', `/api/v1/roles/${id}`, { body: { permissions: ['camera.live', 'camera.playback'] } }),
      target: id,
      status: 200,
    }
  },
  'DELETE /api/v1/roles/:id': async () => {
    const id = await newRole()
    return { call: () => req('DELETE', `/api/v1/roles/${id}`), target: id }
  },
  'POST /api/v1/views': async () => ({
    call: () =>
      req('POST', '/api/v1/views', {
        body: { name: `v${randomUUID().slice(0, 8)}`, layout: '2x2', cameraIds: [cameraId] },
      }),
  }),
  'PATCH /api/v1/views/:id': async () => {
    const id = await newView()
    return {
      call: () => req('PATCH', `/api/v1/views/${id}`, { body: { layout: '2x2' } }),
      target: id,
      status: 200,
    }
  },
  'DELETE /api/v1/views/:id': async () => {
    const id = await newView()
    return { call: () => req('DELETE', `/api/v1/views/${id}`), target: id }
  },

  // Models, license, audit
  'POST /api/v1/models': async () => ({
    call: () =>
      fetch(`${t.url}/api/v1/models?id=m${randomUUID().slice(0, 8)}&format=yolox`, {
        method: 'POST',
        headers: { authorization: `Bearer ${acme.token}`, 'content-type': 'application/octet-stream' },
        body: new Blob([new Uint8Array(readFileSync(MODEL_FILE))]),
      }),
  }),
  'DELETE /api/v1/models/:id': async () => {
    const id = `m${randomUUID().slice(0, 8)}`
    await t.db.adminQuery(
      `insert into analytics_models (tenant_id, id, format, labels, sha256, bytes, data, created_by)
       values ($1, $2, 'yolox', '["person"]'::jsonb, $3, 1, $4, $5)`,
      [acme.tenantId, id, '0'.repeat(64), Buffer.from([0]), acme.adminId],
    )
    return { call: () => req('DELETE', `/api/v1/models/${id}`), target: id }
  },
  'PUT /api/v1/license': async () => {
    const license = await issueTestLicense({ tenant: 'acme' })
    return {
      call: () =>
        t.request('PUT', `/api/v1/license?tenantId=${acme.tenantId}`, {
          token: sys,
          rawBody: license,
          headers: { 'content-type': 'text/plain' },
        }),
      actor: sysId,
      status: 200,
    }
  },
  'GET /api/v1/audit': async () => ({
    call: () => req('GET', '/api/v1/audit?limit=10', { headers: { accept: 'text/csv' } }),
  }),
}

/** Routes whose builder needs what this machine may lack (said when skipped). */
const unavailable: Record<string, string | undefined> = {
  'POST /api/v1/models': existsSync(MODEL_FILE) ? undefined : `${MODEL_FILE} is absent`,
}

/**
 * The API registry as the hub builds it (`buildApi`), over the running hub's context; with metrics
 * of its own, as some routes register theirs when built.
 */
const registry = () => buildApi({ ...t.hub.context, metrics: new HubMetrics() }).routes

interface AuditRow {
  id: string
  action: string
  actor_type: string
  actor_id: string | null
  target_id: string | null
  outcome: string
}

beforeAll(async () => {
  t = await startTestHub({ VMS_LIVE_HOST_ADDRESSES: '127.0.0.1' }, { systemLicense: true })
  sys = await t.adminToken()
  sysId = (await t.request('GET', '/api/v1/me', { token: sys })).body.id
  acme = await createTenantWithAdmin(t, 'acme')
  siteId = await newSite()
  north = await enrollAgentAt(t, siteId, acme.token, 'north')
  offline = await enrollAgentAt(t, siteId, acme.token, 'offline')
  agent = await connectFakeAgent(north, { onRequest: answer })
  cameraId = await newCamera({
    device: { protocol: 'isapi', address: '10.0.0.30', username: 'admin', password: 'x' },
  })
  offlineCameraId = await newCamera({ agentId: offline.agentId })
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await t?.close()
  for (const p of peers) await p.close().catch(() => undefined)
})

describe('audit completeness', () => {
  it('classifies every route of the registry, and nothing else', () => {
    const keys = registry().map(routeKey)
    expect(new Set(keys).size, 'a route registered twice').toBe(keys.length)
    const unclassified = keys.filter((k) => !(k in ROUTE_AUDIT))
    expect(unclassified, 'classify these routes in hub/src/audit/audited-routes.ts').toEqual([])
    const stale = Object.keys(ROUTE_AUDIT).filter((k) => !keys.includes(k))
    expect(stale, 'classified routes that are not in the registry').toEqual([])
    for (const [key, c] of Object.entries(ROUTE_AUDIT)) {
      if ('audited' in c) expect(c.audited, key).toMatch(/^[a-z][a-z_-]*(\.[a-z_-]+)+$/)
      else expect(c.unaudited.length, `${key}: say why it is not audited`).toBeGreaterThan(10)
    }
  })

  it('has a request for every audited route, and nothing else', () => {
    const audited = Object.entries(ROUTE_AUDIT)
      .filter(([, c]) => 'audited' in c)
      .map(([k]) => k)
    expect(
      audited.filter((k) => !(k in builders)),
      'add a request to `builders`',
    ).toEqual([])
    expect(Object.keys(builders).filter((k) => !audited.includes(k))).toEqual([])
  })

  it('every audited route writes its record', async () => {
    const problems: string[] = []
    let called = 0
    for (const r of registry()) {
      const key = routeKey(r)
      const c = ROUTE_AUDIT[key]
      if (!c || !('audited' in c)) continue
      if (unavailable[key]) {
        console.warn(`audit completeness: not calling ${key}: ${unavailable[key]}`)
        continue
      }
      try {
        const build = builders[key]
        if (!build) throw new Error('no request for it')
        const step = await build()
        const [{ max }] = (
          await t.db.adminQuery('select coalesce(max(id), 0)::text as max from audit_events')
        ).rows as [{ max: string }]
        const res = await step.call()
        const text = res instanceof Response ? await res.text() : res.text
        const expected = step.status ?? (res.status >= 200 && res.status < 300 ? res.status : '2xx')
        if (res.status !== expected) throw new Error(`answered ${res.status} (expected ${expected}): ${text}`)
        called++
        const rows = await poll(
          async () => {
            const found = await t.db.adminQuery<AuditRow>(
              `select id::text, action, actor_type, actor_id, target_id, outcome
                 from audit_events where id > $1 and action = $2 order by id`,
              [max, c.audited],
            )
            return found.rows.length > 0 ? found.rows : undefined
          },
          `its ${c.audited} audit record`,
          5000,
        ).catch(() => undefined)
        if (!rows) throw new Error(`wrote no ${c.audited} audit record`)
        const actor = step.actor === undefined ? acme.adminId : step.actor
        if (!rows.some((x) => x.outcome === 'success')) throw new Error(`no successful ${c.audited} record`)
        if (actor !== null && !rows.some((x) => x.actor_id === actor))
          throw new Error(`${c.audited} names ${rows.map((x) => x.actor_id)}, not the caller ${actor}`)
        // What it made, when it says (a create answers with its id), unless the step names the target.
        let made: unknown
        try {
          made = (JSON.parse(text) as { id?: unknown }).id
        } catch {}
        const target = step.target === undefined && typeof made === 'string' ? made : step.target
        if (target && !rows.some((x) => x.target_id === target))
          throw new Error(`${c.audited} targets ${rows.map((x) => x.target_id)}, not ${target}`)
      } catch (err) {
        problems.push(`${key}: ${(err as Error).message}`)
      }
    }
    expect(problems, 'audited routes that did not write their record').toEqual([])
    const audited = Object.entries(ROUTE_AUDIT).filter(([k, c]) => 'audited' in c && !unavailable[k])
    expect(called).toBe(audited.length)
  }, 120_000)
})
