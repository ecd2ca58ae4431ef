import type { Context } from 'koa'
import { z } from 'zod'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import { lockTenant } from '../../services/admin-guard.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { badRequest, forbidden } from '../errors.ts'
import { visibleTenant } from './tenants.ts'

const limits = z.object({
  maxCameras: z.number().int().optional(),
  maxAgents: z.number().int().optional(),
  maxSites: z.number().int().optional(),
  maxUsers: z.number().int().optional(),
})

const licenseView = z.object({
  tenantId: z.uuid(),
  status: z.enum(['unlicensed', 'valid', 'grace', 'expired']),
  license: z
    .object({
      id: z.uuid(),
      customer: z.string(),
      issuedAt: z.iso.datetime(),
      notBefore: z.iso.datetime(),
      expiresAt: z.iso.datetime(),
      features: z.array(z.string()),
      limits,
      tenant: z.string().nullable(),
      installedAt: z.iso.datetime(),
    })
    .nullable(),
  effective: z.object({ features: z.array(z.string()), limits, additionsAllowed: z.boolean() }),
  graceEndsAt: z.iso.datetime().nullable(),
  usage: z.object({ cameras: z.number(), agents: z.number(), sites: z.number(), users: z.number() }),
  warnings: z.array(z.string()),
})

const tenantQuery = z.object({ tenantId: z.uuid().optional().describe('system-admins: another tenant') })

/** The license text, sent as text/plain (or as JSON {"license": "..."}). */
const licenseBody = z.union([
  z.string().min(1).max(20_000),
  z.object({ license: z.string().min(1).max(20_000) }).strict(),
])

export function registerLicenseRoutes(api: Api, hub: HubContext): void {
  const targetTenant = (p: Principal, requested: string | undefined) => {
    const tenantId = requested ?? p.tenantId
    if (tenantId !== p.tenantId && !p.isSystemAdmin) throw forbidden()
    return tenantId
  }

  api.route({
    method: 'get',
    path: '/api/v1/license',
    tag: 'license',
    auth: 'user',
    summary: "The tenant's license, what it allows now, and current usage",
    query: tenantQuery,
    responses: { 200: { description: 'License status', schema: licenseView } },
    async handler(ctx, { query, principal }) {
      const tenantId = targetTenant(principal, query.tenantId)
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        await visibleTenant(tx, tenantId)
        return hub.licensing.view(tx, tenantId)
      })
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/license',
    tag: 'license',
    auth: 'user',
    summary: 'Install a license (text/plain body: the license file as issued)',
    description:
      'A forged, altered, not-yet-valid, expired, foreign-key or other-tenant license is refused with 422 ' +
      'and the reason. The newest installed license is in force.',
    query: tenantQuery,
    body: licenseBody,
    bodyContentType: 'text/plain',
    responses: { 200: { description: 'Installed; the new status', schema: licenseView } },
    async handler(ctx: Context, { query, body, principal }) {
      const tenantId = targetTenant(principal, query.tenantId)
      const text = typeof body === 'string' ? body : body.license
      if (!text.trim()) throw badRequest('the body must be the license text')
      const { view, payload } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const tenant = await visibleTenant(tx, tenantId)
        if (!can(principal, 'license.manage', { type: 'tenant', tenantId })) throw forbidden()
        await lockTenant(tx, tenantId)
        const installed = await hub.licensing.install(tx, tenant, text, principal.userId)
        return { payload: installed, view: await hub.licensing.view(tx, tenantId) }
      })
      await hub.audit.record({
        action: 'license.install',
        outcome: 'success',
        tenantId,
        ...auditSource(ctx, principal),
        target: { type: 'license', id: payload.lid },
        details: {
          customer: payload.customer,
          expiresAt: new Date(payload.exp * 1000).toISOString(),
          features: payload.features,
          limits: payload.limits,
        },
      })
      ctx.body = view
    },
  })
}
