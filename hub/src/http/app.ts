import { randomUUID } from 'node:crypto'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import { isStorableText } from '@ts-vms/shared'
import Koa from 'koa'
import { registerExportKeyRoutes } from '../exports/export-keys.ts'
import type { HubContext } from '../hub-context.ts'
import { Api } from './api.ts'
import { authenticate, authenticateAgent, authenticateToken } from './authenticate.ts'
import { clientIp } from './client-ip.ts'
import { consoleMiddleware } from './console-assets.ts'
import { errorMiddleware, HttpError } from './errors.ts'
import { registerAgentRoutes } from './routes/agents.ts'
import { registerAlarmRuleRoutes } from './routes/alarm-rules.ts'
import { registerAlarmRoutes } from './routes/alarms.ts'
import { registerAuditRoutes } from './routes/audit.ts'
import { registerAuthRoutes } from './routes/auth.ts'
import { registerBookmarkRoutes } from './routes/bookmarks.ts'
import { registerCameraActivityRoutes } from './routes/camera-activity.ts'
import { registerCameraBulkRoutes } from './routes/camera-bulk.ts'
import { PtzSequences, registerPtzRoutes } from './routes/camera-ptz.ts'
import { registerCameraRoutes } from './routes/cameras.ts'
import { registerCaseRoutes } from './routes/cases.ts'
import { registerDeviceRoutes } from './routes/devices.ts'
import { isUplinkProbe, registerDiagnosticRoutes } from './routes/diagnostics.ts'
import { registerEventRoutes } from './routes/events.ts'
import { registerEvidenceLockRoutes } from './routes/evidence-locks.ts'
import { registerLicenseRoutes } from './routes/license.ts'
import { registerLiveRoutes } from './routes/live.ts'
import { registerLiveObjectRoutes } from './routes/live-objects.ts'
import { registerMeRoutes } from './routes/me.ts'
import { isModelUpload, registerModelRoutes } from './routes/models.ts'
import { registerNotificationRoutes } from './routes/notification-channels.ts'
import { registerRecordingRoutes } from './routes/recordings.ts'
import { registerRoleBindingRoutes } from './routes/role-bindings.ts'
import { registerRoleRoutes } from './routes/roles.ts'
import { registerSiteRoutes } from './routes/sites.ts'
import { registerStreamRoutes } from './routes/stream.ts'
import { registerSystemRoutes } from './routes/system.ts'
import { registerTenantRoutes } from './routes/tenants.ts'
import { registerUserRoutes } from './routes/users.ts'
import { registerViewRoutes } from './routes/views.ts'
import { registerWebAssets } from './web-assets.ts'

/** True when some string (key or value) anywhere in a parsed body or query fails `ok`. */
export function findUnstorable(value: unknown, ok: (text: string) => boolean, depth = 0): boolean {
  if (typeof value === 'string') return !ok(value)
  if (depth > 32 || value === null || typeof value !== 'object') return false
  for (const [k, v] of Object.entries(value)) if (!ok(k) || findUnstorable(v, ok, depth + 1)) return true
  return false
}

const noNul = (text: string) => !text.includes('\0')

/**
 * Where a lone surrogate is let through to the handler: the login, whose every failure must be
 * rate-limited and audited like any other (a 400 at the door would let a prober go unseen and
 * uncounted). Its text is harmless there: the driver sends it as U+FFFD, which matches no tenant or
 * user, and the audit boundary cleans it (hub/src/audit/record.ts).
 */
const SURROGATES_ALLOWED = new Set(['/api/v1/auth/login'])

export function buildApi(hub: HubContext): Api {
  const api = new Api()
  registerAuthRoutes(api, hub)
  registerMeRoutes(api, hub)
  registerTenantRoutes(api, hub)
  registerSiteRoutes(api, hub)
  registerCameraRoutes(api, hub)
  registerCameraBulkRoutes(api, hub)
  registerDeviceRoutes(api, hub)
  registerPtzRoutes(api, hub, new PtzSequences(hub.config.VMS_PTZ_AUDIT_SEQUENCE_MS))
  registerRecordingRoutes(api, hub)
  registerBookmarkRoutes(api, hub)
  registerCaseRoutes(api, hub)
  registerEvidenceLockRoutes(api, hub)
  registerLiveRoutes(api, hub)
  registerLiveObjectRoutes(api, hub)
  registerUserRoutes(api, hub)
  registerViewRoutes(api, hub)
  registerStreamRoutes(api, hub)
  registerRoleRoutes(api, hub)
  registerRoleBindingRoutes(api, hub)
  registerAuditRoutes(api, hub)
  registerLicenseRoutes(api, hub)
  registerAgentRoutes(api, hub)
  registerEventRoutes(api, hub)
  registerCameraActivityRoutes(api, hub)
  registerModelRoutes(api, hub)
  registerDiagnosticRoutes(api, hub)
  registerAlarmRuleRoutes(api, hub)
  registerAlarmRoutes(api, hub)
  registerNotificationRoutes(api, hub)
  return api
}

export function createApp(hub: HubContext): Koa {
  const app = new Koa()
  app.proxy = false // client IPs come from the socket until trusted proxies are configured
  // Errors after the response started (a streamed body): a client that went away is no error
  // (live update streams end that way); anything else is logged, never printed raw.
  app.on('error', (err: NodeJS.ErrnoException) => {
    if (['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE'].includes(err.code ?? '')) return
    hub.logger.warn({ err }, 'error while sending a response')
  })
  const router = new Router()
  const api = buildApi(hub)
  const auth = authenticate(hub)

  // Request id, access log and metrics. Only method, route and status: never bodies or headers.
  app.use(async (ctx, next) => {
    ctx.state.clientIp = clientIp(
      ctx.req.socket.remoteAddress,
      ctx.get('x-forwarded-for') || undefined,
      hub.trustedProxies,
    )
    const requestId = randomUUID()
    ctx.state.requestId = requestId
    ctx.set('X-Request-Id', requestId)
    const started = process.hrtime.bigint()
    try {
      await next()
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched'
      hub.metrics.httpRequests.inc({ method: ctx.method, route, status: String(ctx.status) })
      hub.metrics.httpDuration.observe({ method: ctx.method, route }, seconds)
      hub.logger.debug(
        { requestId, method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 1000) },
        'request',
      )
    }
  })
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Referrer-Policy', 'no-referrer')
    ctx.set('X-Frame-Options', 'DENY')
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin')
    ctx.set('Cache-Control', 'no-store')
    await next()
  })
  app.use(errorMiddleware(hub.logger))
  app.use(async (ctx, next) => {
    const method = ctx.method
    if ((method === 'POST' || method === 'PUT' || method === 'PATCH') && ctx.request.length !== 0) {
      const type = ctx.request.type
      // Agents deliver exports as video/mp4 to their upload path (streamed, never parsed).
      // Analytics models arrive as application/octet-stream (read by their route, never parsed).
      const upload =
        (type === 'video/mp4' && method === 'PUT' && ctx.path.startsWith('/api/v1/agent/uploads/')) ||
        isModelUpload(method, ctx.path, type) ||
        isUplinkProbe(method, ctx.path, type)
      if (
        type &&
        !upload &&
        type !== 'application/json' &&
        !type.endsWith('+json') &&
        type !== 'text/plain' &&
        // A bulk camera import's CSV (parsed by its route; the body limit applies)
        !(type === 'text/csv' && method === 'POST' && ctx.path === '/api/v1/cameras/bulk') &&
        // WHEP offers
        !(type === 'application/sdp' && method === 'POST' && ctx.path.endsWith('/whep'))
      ) {
        throw new HttpError(415, 'unsupported_media_type', 'send the request body as application/json')
      }
    }
    await next()
  })
  app.use(
    bodyParser({
      enableTypes: ['json', 'text'],
      extendTypes: { text: ['text/plain', 'application/sdp', 'text/csv'] },
      textLimit: hub.config.VMS_BODY_LIMIT_BYTES,
      encoding: 'utf-8',
      jsonLimit: hub.config.VMS_BODY_LIMIT_BYTES,
      jsonStrict: true,
    }),
  )

  // Postgres text cannot hold NUL, and JSON with a lone UTF-16 surrogate (legal as a \ud800
  // escape, but no character) is refused by jsonb and silently altered in text: both are a
  // client's mistake, refused at the door (400) rather than met as a database error or a
  // quiet change of what was sent.
  app.use(async (ctx, next) => {
    const body = (ctx.request as { body?: unknown }).body
    if (findUnstorable(body, noNul) || findUnstorable(ctx.query, noNul) || ctx.path.includes('\0')) {
      throw new HttpError(400, 'invalid_characters', 'the request contains a NUL character')
    }
    if (!SURROGATES_ALLOWED.has(ctx.path) && findUnstorable(body, isStorableText)) {
      throw new HttpError(
        400,
        'invalid_characters',
        'the request contains a lone UTF-16 surrogate (an escape such as \\ud800 that is not half of a pair)',
      )
    }
    await next()
  })

  app.use(consoleMiddleware())
  registerSystemRoutes(router, api, hub, auth)
  registerExportKeyRoutes(router, hub)
  registerWebAssets(router)
  api.mount(router, { user: auth, token: authenticateToken(hub), agent: authenticateAgent(hub) })
  app.use(router.routes())
  app.use(
    router.allowedMethods({
      throw: true,
      methodNotAllowed: () => new HttpError(405, 'method_not_allowed', 'method not allowed on this endpoint'),
      notImplemented: () => new HttpError(405, 'method_not_allowed', 'method not supported'),
    }),
  )
  return app
}
