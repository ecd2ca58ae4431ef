import { timingSafeEqual } from 'node:crypto'
import type Router from '@koa/router'
import type { Context, Middleware } from 'koa'
import type { HubContext } from '../../hub-context.ts'
import { siteHealth } from '../../observability/metrics.ts'
import type { Api } from '../api.ts'
import { forbidden, unauthorized } from '../errors.ts'

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Operational endpoints. Health and readiness are anonymous (load balancers and service managers
 * probe them) and reveal nothing but up/down and the audit backlog's counts. The JWKS is public by nature: verifiers need it.
 * Metrics need VMS_METRICS_TOKEN as a bearer token, or a system-admin's access token.
 */
export function registerSystemRoutes(
  router: Router,
  api: Api,
  hub: HubContext,
  authenticate: Middleware,
): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' }
  })

  router.get('/readyz', async (ctx) => {
    const database = await hub.db.ping()
    ctx.status = database ? 200 : 503
    ctx.body = {
      status: database ? 'ready' : 'unavailable',
      checks: { database: database ? 'ok' : 'unreachable' },
      // Counts only. Spooled records are durable and the hub still serves, so they do not make it
      // unready; they tell the operator the database trail is behind (or, quarantined, incomplete).
      audit: { spooled: hub.audit.spooledCount(), quarantined: hub.audit.quarantinedCount() },
    }
  })

  router.get('/.well-known/jwks.json', async (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=60')
    ctx.body = await hub.keys.jwks()
  })

  const metricsAuth: Middleware = async (ctx: Context, next) => {
    const token = hub.config.VMS_METRICS_TOKEN
    const presented = /^Bearer +(\S+)$/i.exec(ctx.get('authorization'))?.[1]
    if (token && presented && sameSecret(presented, token)) return next()
    if (!presented) throw unauthorized()
    return authenticate(ctx, async () => {
      if (!ctx.state.principal?.isSystemAdmin) throw forbidden('metrics are for system administrators')
      await next()
    })
  }
  // Per-site gauges (issue 14), computed from the agents' heartbeats when scraped.
  hub.metrics.siteSource ??= { query: () => siteHealth(hub.db), logger: hub.logger }
  router.get('/metrics', metricsAuth, async (ctx) => {
    ctx.set('Content-Type', hub.metrics.registry.contentType)
    ctx.body = await hub.metrics.registry.metrics()
  })

  let openapi: Record<string, unknown> | undefined
  router.get('/api/v1/openapi.json', authenticate, (ctx) => {
    openapi ??= api.openapi({
      title: 'TS-VMS hub API',
      version: hub.version,
      description: 'The central API of TS-VMS. Errors are `{ "error": { "code", "message" } }`.',
    })
    ctx.body = openapi
  })
}
