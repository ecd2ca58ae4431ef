import { streamRole as liveStream } from '@ts-vms/shared'
import { MAX_GRID_OFFER_BYTES } from '@ts-vms/shared/live'
import type { Context } from 'koa'
import { z } from 'zod'
import { AgentRequestError } from '../../agents/agent-requests.ts'
import type { Camera } from '../../db/entities.ts'
import type { HubContext } from '../../hub-context.ts'
import {
  type LiveCamera,
  type LiveMode,
  type LiveSession,
  LiveSessionError,
  type LiveStream,
  type LiveViewer,
  VIEWER_CLOSED,
} from '../../live/live-sessions.ts'
import { can } from '../../rbac/authorize.ts'
import { assertMayManageUser } from '../../rbac/escalation.ts'
import { loadPrincipal, type Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { describeError, HttpError, notFound } from '../errors.ts'
import { idParams } from '../schemas.ts'
import { reachableCamera, reachableCameras } from './cameras.ts'

/**
 * Live view. The browser posts its offer (ICE gathering complete) and gets the hub's answer; by
 * default the hub relays one upstream per camera from the agent, `mode: "direct"` connects the
 * browser to the agent itself (same LAN). WHEP (draft-ietf-wish-whep) sits beside it for players
 * that speak it. A session lasts as long as the access token that opened it; the player renews
 * it with a fresh token.
 */
const liveOffer = z.object({
  type: z.literal('offer'),
  sdp: z
    .string()
    .min(1)
    .max(64 * 1024),
  mode: z.enum(['relay', 'direct']).default('relay'),
  /**
   * The stream wanted: `sub` for a grid tile, `main` for a single view. The agent falls back to the
   * other when this one is missing or not H.264; the answer's `stream` says which is sent.
   */
  stream: liveStream.default('main'),
})

/** Most offers in one batch: a 4x4 grid. */
const MAX_BATCH_OFFERS = 16

const liveOffers = z
  .object({
    offers: z
      .array(liveOffer.extend({ cameraId: z.uuid() }))
      .min(1)
      .max(MAX_BATCH_OFFERS),
  })
  .strict()

/** A grid on one connection: one offer whose video sections are the tiles, in order. */
const liveGridOffer = z
  .object({
    type: z.literal('offer'),
    sdp: z.string().min(1).max(MAX_GRID_OFFER_BYTES),
    tiles: z
      .array(z.object({ cameraId: z.uuid(), stream: liveStream.default('sub') }).strict())
      .min(1)
      .max(MAX_BATCH_OFFERS),
  })
  .strict()

const liveAnswer = z.object({
  type: z.literal('answer'),
  sdp: z.string(),
  sessionId: z.uuid(),
  mode: z.enum(['relay', 'direct']),
  stream: liveStream,
  expiresAt: z.iso.datetime(),
})

const apiError = z.object({ code: z.string(), message: z.string() })

const sessionParams = z.object({ sessionId: z.uuid() })

const liveSession = z.object({
  sessionId: z.uuid(),
  cameraId: z.uuid(),
  mode: z.enum(['relay', 'direct']),
  stream: liveStream,
  startedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  connection: z
    .object({
      state: z.string(),
      sentPackets: z.number(),
      sentBytes: z.number(),
      sentFrames: z.number(),
      replays: z.number(),
      pliReceived: z.number(),
      nackReceived: z.number(),
      retransmitted: z.number(),
      rttMs: z.number().optional(),
    })
    .optional(),
  upstream: z
    .object({ state: z.string(), receivedPackets: z.number(), lostPackets: z.number(), viewers: z.number() })
    .optional(),
})

const liveSessionSummary = z.object({
  sessionId: z.uuid(),
  cameraId: z.uuid(),
  camera: z.string(),
  viewer: z.object({ id: z.uuid(), username: z.string() }),
  mode: z.enum(['relay', 'direct']),
  stream: liveStream,
  startedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
})

const liveConfig = z.object({
  iceServers: z.array(
    z.object({ urls: z.string(), username: z.string().optional(), credential: z.string().optional() }),
  ),
})

export function registerLiveRoutes(api: Api, hub: HubContext): void {
  const liveCamera = (c: Camera & { agentId: string }): LiveCamera => ({
    id: c.id,
    name: c.name,
    tenantId: c.tenantId,
    siteId: c.siteId,
    agentId: c.agentId,
  })

  const asHttp = (err: unknown) =>
    err instanceof AgentRequestError || err instanceof LiveSessionError
      ? new HttpError(err.status, err.code, err.message)
      : err

  /** Who watches, as live sessions record it. */
  const viewerOf = (ctx: Context, principal: Principal): LiveViewer => {
    const source = auditSource(ctx, principal)
    return {
      userId: principal.userId,
      tenantId: principal.tenantId,
      username: principal.username,
      sessionVersion: principal.sessionVersion,
      clientIp: source.clientIp,
      userAgent: source.userAgent,
    }
  }

  /** One camera's part of a batch or grid that did not start: the status a single request would have had. */
  const refusal = (cameraId: string, err: unknown, what: string) => {
    const known = describeError(err)
    if (known) return { cameraId, status: known.status, error: { code: known.code, message: known.message } }
    hub.logger.error({ err, camera: cameraId }, what)
    return { cameraId, status: 500, error: { code: 'internal_error', message: 'internal server error' } }
  }

  /** A session on a camera the principal may watch: by id, or already checked (a batch's). */
  async function start(
    ctx: Context,
    principal: Principal,
    cameraOrId: string | LiveCamera,
    sdp: string,
    mode: LiveMode,
    stream: LiveStream,
  ) {
    const camera =
      typeof cameraOrId === 'string'
        ? liveCamera(await reachableCamera(hub, principal, cameraOrId, 'camera.live'))
        : cameraOrId
    try {
      return await hub.live.start({
        camera,
        viewer: viewerOf(ctx, principal),
        offerSdp: sdp,
        mode,
        stream,
        expiresAt: ctx.state.tokenExpiresAt as number,
      })
    } catch (err) {
      throw asHttp(err)
    }
  }

  /**
   * The caller's own session, from the token alone (these routes work while the database is
   * away); another user's session is not visible. A session opened before the user's sessions were
   * ended (logout everywhere) is not theirs to keep either.
   */
  function ownSession(principal: Principal, id: string) {
    const s = hub.live.get(id)
    if (!s || s.viewer.userId !== principal.userId || s.viewer.sessionVersion !== principal.sessionVersion)
      throw notFound('no such live session')
    return s
  }

  api.route({
    method: 'post',
    path: '/api/v1/cameras/:id/live',
    tag: 'live',
    auth: 'user',
    summary: 'Start watching a camera live: send a WebRTC offer, get the answer',
    description:
      'The offer must carry all its ICE candidates (wait for gathering to complete). Needs camera.live. ' +
      'The session ends with DELETE /api/v1/live/{sessionId}, when the connection fails, or when the access token expires (renew it).',
    params: idParams,
    body: liveOffer,
    responses: {
      201: { description: 'The answer and the session', schema: liveAnswer },
      503: { description: "The camera's agent is not connected, or live capacity is exhausted" },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, body, principal }) {
      const r = await start(ctx, principal, params.id, body.sdp, body.mode, body.stream)
      ctx.status = 201
      ctx.set('Location', `/api/v1/live/${r.sessionId}`)
      ctx.body = {
        type: 'answer',
        sdp: r.sdp,
        sessionId: r.sessionId,
        mode: body.mode,
        stream: r.stream,
        expiresAt: new Date(r.expiresAt).toISOString(),
      }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/live/offers',
    tag: 'live',
    auth: 'user',
    summary: 'Start watching several cameras at once: one request for a whole grid',
    description:
      `Up to ${MAX_BATCH_OFFERS} offers, each as for POST /api/v1/cameras/{id}/live plus its cameraId, handled at the same time. ` +
      'A browser opens at most six connections to a host, so a 4x4 grid of single offers waits in line; a batch does not. ' +
      'Each offer succeeds or fails on its own: results come in the order of the offers, each with the status the single request would have had ' +
      '(201 and the answer, or the error).',
    body: liveOffers,
    responses: {
      200: {
        description: 'One result per offer, in order',
        schema: z.object({
          results: z.array(
            z.object({
              cameraId: z.uuid(),
              status: z.number().int(),
              answer: liveAnswer.optional(),
              error: apiError.optional(),
            }),
          ),
        }),
      },
    },
    async handler(ctx, { body, principal }) {
      // Every camera checked in one transaction, then every session started at once (their audit
      // records then go to the database together too).
      const cameras = await reachableCameras(
        hub,
        principal,
        body.offers.map((o) => o.cameraId),
        'camera.live',
      )
      const results = await Promise.all(
        body.offers.map(async (o) => {
          try {
            const camera = cameras.get(o.cameraId)
            if (!camera || camera instanceof Error) throw camera ?? notFound('camera')
            const r = await start(ctx, principal, liveCamera(camera), o.sdp, o.mode, o.stream)
            return {
              cameraId: o.cameraId,
              status: 201,
              answer: {
                type: 'answer' as const,
                sdp: r.sdp,
                sessionId: r.sessionId,
                mode: o.mode,
                stream: r.stream,
                expiresAt: new Date(r.expiresAt).toISOString(),
              },
            }
          } catch (err) {
            return refusal(o.cameraId, err, 'a batched live offer failed')
          }
        }),
      )
      ctx.body = { results }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/live/grid',
    tag: 'live',
    auth: 'user',
    summary: 'Start watching a grid on one connection: one offer with a video section per tile',
    description:
      `The offer (ICE gathering complete, BUNDLE) has one recvonly video section per tile, up to ${MAX_BATCH_OFFERS}, in the order of \`tiles\`; ` +
      "the answer sends each tile's camera on its section (its `mid`), relayed by the hub. One ICE and one DTLS handshake serve the whole grid " +
      'where a connection per tile costs one each. Each tile is a live session of its own (renew, stop and stats by its sessionId) and succeeds or ' +
      'fails on its own, with the status a single offer would have had; a failed tile gets a silent section. The connection closes when its last ' +
      'session ends. 400/422 when the offer itself is unusable (not SDP, or not one H.264 video section per tile).',
    body: liveGridOffer,
    responses: {
      201: {
        description: 'The answer, and one result per tile, in order',
        schema: z.object({
          type: z.literal('answer'),
          sdp: z.string(),
          expiresAt: z.iso.datetime(),
          tiles: z.array(
            z.object({
              cameraId: z.uuid(),
              status: z.number().int(),
              sessionId: z.uuid().optional(),
              mid: z.string().optional(),
              stream: liveStream.optional(),
              error: apiError.optional(),
            }),
          ),
        }),
      },
    },
    async handler(ctx, { body, principal }) {
      const cameras = await reachableCameras(
        hub,
        principal,
        body.tiles.map((t) => t.cameraId),
        'camera.live',
      )
      let started: Awaited<ReturnType<typeof hub.live.startBundle>>
      try {
        started = await hub.live.startBundle({
          tiles: body.tiles.map((t) => {
            const camera = cameras.get(t.cameraId)
            if (!camera || camera instanceof Error) return { error: camera ?? notFound('camera') }
            return { camera: liveCamera(camera), stream: t.stream }
          }),
          viewer: viewerOf(ctx, principal),
          offerSdp: body.sdp,
          expiresAt: ctx.state.tokenExpiresAt as number,
        })
      } catch (err) {
        throw asHttp(err)
      }
      ctx.status = 201
      ctx.body = {
        type: 'answer',
        sdp: started.sdp,
        expiresAt: new Date(started.expiresAt).toISOString(),
        tiles: started.tiles.map((t, i) => {
          const cameraId = body.tiles[i]?.cameraId as string
          if ('sessionId' in t)
            return { cameraId, status: 201, sessionId: t.sessionId, mid: t.mid, stream: t.stream }
          return refusal(cameraId, asHttp(t.error), 'a grid tile could not start')
        }),
      }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/cameras/:id/whep',
    tag: 'live',
    auth: 'user',
    summary: 'WHEP: start watching a camera with an SDP offer (application/sdp)',
    description:
      'Answers 201 with the SDP answer and a Location to DELETE when done (draft-ietf-wish-whep). ?stream=sub asks for the sub-stream.',
    params: idParams,
    query: z.object({ stream: liveStream.default('main') }),
    body: z
      .string()
      .min(1)
      .max(64 * 1024),
    bodyContentType: 'application/sdp',
    responses: { 201: { description: 'The SDP answer', schema: z.string(), contentType: 'application/sdp' } },
    async handler(ctx, { params, query, body, principal }) {
      const r = await start(ctx, principal, params.id, body, 'relay', query.stream)
      ctx.status = 201
      ctx.set('Location', `/api/v1/live/${r.sessionId}`)
      ctx.type = 'application/sdp'
      ctx.body = r.sdp
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/live/config',
    tag: 'live',
    auth: 'user',
    summary: 'What a player needs to connect: the ICE servers',
    responses: { 200: { description: 'Player configuration', schema: liveConfig } },
    async handler(ctx) {
      ctx.body = { iceServers: hub.config.VMS_ICE_SERVERS }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/live/:sessionId',
    tag: 'live',
    auth: 'token',
    summary: 'A live session and its connection statistics',
    params: sessionParams,
    responses: { 200: { description: 'The session', schema: liveSession } },
    async handler(ctx, { params, principal }) {
      ownSession(principal, params.sessionId)
      const stats = await hub.live.stats(params.sessionId)
      if (!stats) throw notFound('no such live session')
      ctx.body = stats
    },
  })

  /** Who may see and end other viewers' sessions: user managers of the camera's tenant. */
  const supervises = (principal: Principal, s: LiveSession) =>
    can(principal, 'user.manage', { type: 'tenant', tenantId: s.camera.tenantId })

  api.route({
    method: 'get',
    path: '/api/v1/live',
    tag: 'live',
    auth: 'user',
    summary: 'Live sessions on this hub: your own, and everyone’s in tenants where you manage users',
    query: z.object({ cameraId: z.uuid().optional() }),
    responses: {
      200: {
        description: 'Sessions, newest first',
        schema: z.object({ items: z.array(liveSessionSummary), total: z.number() }),
      },
    },
    async handler(ctx, { query, principal }) {
      const items = hub.live
        .list(
          (s) =>
            (s.viewer.userId === principal.userId || supervises(principal, s)) &&
            (query.cameraId === undefined || s.camera.id === query.cameraId),
        )
        .map((s) => ({
          sessionId: s.id,
          cameraId: s.camera.id,
          camera: s.camera.name,
          viewer: { id: s.viewer.userId, username: s.viewer.username },
          mode: s.mode,
          stream: s.stream,
          startedAt: new Date(s.startedAt).toISOString(),
          expiresAt: new Date(s.expiresAt).toISOString(),
        }))
      ctx.body = { items, total: items.length }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/live/:sessionId/terminate',
    tag: 'live',
    auth: 'user',
    summary: "End another viewer's live session (user managers of the camera's tenant)",
    params: sessionParams,
    responses: { 204: { description: 'Ended' } },
    async handler(ctx, { params, principal }) {
      const s = hub.live.get(params.sessionId)
      if (!s || !(s.viewer.userId === principal.userId || supervises(principal, s)))
        throw notFound('no such live session')
      if (s.viewer.userId !== principal.userId) {
        // Ending someone's session acts on that user: only over users no more powerful than you.
        // (Loaded across tenants: a system administrator watching a tenant's camera is one.)
        const viewer = await hub.db.withSystem((tx) => loadPrincipal(tx, s.viewer.userId, hub.systemTenantId))
        if (viewer) assertMayManageUser(principal, viewer)
      }
      await hub.audit.record({
        action: 'camera.live.terminate',
        outcome: 'success',
        tenantId: s.camera.tenantId,
        target: { type: 'camera', id: s.camera.id },
        ...auditSource(ctx, principal),
        details: { sessionId: s.id, camera: s.camera.name, viewer: s.viewer.username },
      })
      await hub.live.end(s.id, `ended by ${principal.username}`)
      ctx.status = 204
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/live/:sessionId/renew',
    tag: 'live',
    auth: 'token',
    summary: "Extend a live session to the current access token's expiry",
    params: sessionParams,
    responses: { 200: { description: 'The new expiry', schema: z.object({ expiresAt: z.iso.datetime() }) } },
    async handler(ctx, { params, principal }) {
      const s = ownSession(principal, params.sessionId)
      const expiresAt = hub.live.renew(params.sessionId, ctx.state.tokenExpiresAt as number)
      // Watching longer is watching: audited like the start (spooled when the database is away).
      await hub.audit.record({
        action: 'camera.live.renew',
        outcome: 'success',
        tenantId: s.camera.tenantId,
        target: { type: 'camera', id: s.camera.id },
        ...auditSource(ctx, principal),
        details: { sessionId: s.id, camera: s.camera.name, expiresAt: new Date(expiresAt).toISOString() },
      })
      ctx.body = { expiresAt: new Date(expiresAt).toISOString() }
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/live/:sessionId',
    tag: 'live',
    auth: 'token',
    summary: 'Stop watching: end a live session',
    params: sessionParams,
    responses: { 204: { description: 'Ended' } },
    async handler(ctx, { params, principal }) {
      ownSession(principal, params.sessionId)
      await hub.live.end(params.sessionId, VIEWER_CLOSED)
      ctx.status = 204
    },
  })
}
