import type { Context, Middleware } from 'koa'
import { type AccessTokenClaims, InvalidAccessToken } from '../auth/access-tokens.ts'
import type { ClientMeta } from '../auth/auth-service.ts'
import type { HubContext } from '../hub-context.ts'
import { rateLimitHeaders } from '../ratelimit/rate-limits.ts'
import { loadPrincipal, type Principal } from '../rbac/principal.ts'
import { unauthorized } from './errors.ts'

const BEARER = /^Bearer +([A-Za-z0-9\-_.~+/]+=*) *$/i

/** The bearer access token's verified claims; 401 when it is missing or not valid. */
async function bearerClaims(hub: HubContext, ctx: Context): Promise<AccessTokenClaims> {
  const match = BEARER.exec(ctx.get('authorization'))
  if (!match?.[1]) throw unauthorized()
  try {
    return await hub.tokens.verify(match[1])
  } catch (err) {
    if (err instanceof InvalidAccessToken)
      throw unauthorized(`access token rejected: ${err.message}`, 'invalid_token')
    throw err
  }
}

/** The principal from the database, kept in the cache for the next requests. */
async function loadCurrentPrincipal(
  hub: HubContext,
  claims: AccessTokenClaims,
): Promise<Principal | undefined> {
  const generation = hub.principals.begin()
  const principal = await hub.db.withTenant({ tenantId: claims.tid }, (tx) =>
    loadPrincipal(tx, claims.sub, hub.systemTenantId),
  )
  if (principal) hub.principals.store(principal, generation)
  return principal
}

/**
 * Resolves the caller from a bearer access token. The token proves who they are; their current
 * roles, disabled flag and session version come from the principal cache, which database triggers
 * keep true (see rbac/principal-cache.ts), else from the database: disabling a user or changing a
 * binding takes effect at once, on every hub.
 */
export function authenticate(hub: HubContext): Middleware {
  return async (ctx, next) => {
    const claims = await bearerClaims(hub, ctx)
    let principal = hub.principals.get(claims.sub)
    // A token newer than the cached principal (a session version bumped since it was stored)
    // must not be refused on stale data: read it again.
    if (!principal || principal.tenantId !== claims.tid || principal.sessionVersion !== claims.sv)
      principal = await loadCurrentPrincipal(hub, claims)
    if (!principal || principal.tenantId !== claims.tid)
      throw unauthorized('the user no longer exists', 'invalid_token')
    if (principal.disabled) throw unauthorized('the account is disabled', 'invalid_token')
    if (principal.sessionVersion !== claims.sv) throw unauthorized('the session has ended', 'invalid_token')
    ctx.state.principal = principal
    // Live sessions last as long as the token that opened (or renewed) them.
    ctx.state.tokenExpiresAt = claims.exp * 1000
    const quota = await hub.limits.apiRequest(principal.userId)
    ctx.set(rateLimitHeaders(quota))
    await next()
  }
}

/**
 * Resolves the caller from the bearer access token alone, without the database: a principal with
 * no grants, for routes that only act on what the same user already holds (their own live
 * session), so those keep working while the database is briefly unavailable.
 */
export function authenticateToken(hub: HubContext): Middleware {
  return async (ctx, next) => {
    const claims = await bearerClaims(hub, ctx)
    const principal: Principal = {
      userId: claims.sub,
      tenantId: claims.tid,
      username: '',
      sessionVersion: claims.sv,
      disabled: false,
      isSystemAdmin: false,
      grants: [],
    }
    ctx.state.principal = principal
    ctx.state.tokenExpiresAt = claims.exp * 1000
    const quota = await hub.limits.apiRequest(principal.userId)
    ctx.set(rateLimitHeaders(quota))
    await next()
  }
}

export function clientMeta(ctx: Context): ClientMeta {
  return { ip: (ctx.state.clientIp as string | null) ?? null, userAgent: ctx.get('user-agent') || null }
}

/** Who did it and from where, for audit records of authenticated requests. */
export function auditSource(ctx: Context, principal: Principal) {
  return {
    actor: { type: 'user' as const, id: principal.userId, name: principal.username },
    clientIp: (ctx.state.clientIp as string | null) ?? null,
    userAgent: ctx.get('user-agent') || null,
  }
}

const BASIC = /^Basic +([A-Za-z0-9+/]+=*) *$/i

/**
 * Resolves an agent from HTTP Basic credentials (agent id : secret), for the few things an agent
 * sends over HTTPS rather than MQTT (export uploads). Checked against the database every time.
 */
export function authenticateAgent(hub: HubContext): Middleware {
  return async (ctx, next) => {
    const match = BASIC.exec(ctx.get('authorization'))
    if (!match?.[1]) throw unauthorized('agent credentials required', 'unauthorized')
    const decoded = Buffer.from(match[1], 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    const agentId = colon > 0 ? decoded.slice(0, colon) : ''
    const secret = colon > 0 ? decoded.slice(colon + 1) : ''
    if (!(await hub.agents.directory.verify(agentId, Buffer.from(secret))))
      throw unauthorized('agent credentials rejected', 'invalid_credentials')
    ctx.state.agent = await hub.agents.directory.get(agentId)
    await next()
  }
}
