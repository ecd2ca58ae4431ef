import { randomUUID } from 'node:crypto'
import type { Context } from 'koa'
import type { Tx } from '../../db/database.ts'
import { type Camera, CameraSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, canSee, type Resource, visibility } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import { lockTenant } from '../../services/admin-guard.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { cameraDto } from '../dto.ts'
import { conflict, forbidden, notFound, unprocessable } from '../errors.ts'
import {
  camera,
  cameraCreate,
  cameraUpdate,
  idParams,
  page,
  paginationQuery,
  tenantFilter,
} from '../schemas.ts'
import { siteResource, visibleSite } from './sites.ts'

export const cameraResource = (c: Camera): Resource => ({
  type: 'camera',
  tenantId: c.tenantId,
  siteId: c.siteId,
  cameraId: c.id,
})

export async function visibleCamera(tx: Tx, principal: Principal, id: string): Promise<Camera> {
  const found = await tx.findOne(CameraSchema, { id })
  if (!found || !canSee(principal, cameraResource(found))) throw notFound('camera')
  return found
}

async function assertUniqueName(tx: Tx, siteId: string, name: string, exceptId?: string) {
  const rows: { id: string }[] = await tx.execute(
    'select id from cameras where site_id = ? and lower(name) = lower(?)',
    [siteId, name],
  )
  if (rows.some((r) => r.id !== exceptId)) {
    throw conflict(`a camera named "${name}" already exists at this site`, 'already_exists')
  }
}

export function registerCameraRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, c: Camera, details?: Record<string, unknown>) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: c.tenantId,
      target: { type: 'camera', id: c.id },
      ...auditSource(ctx, p),
      details: { name: c.name, siteId: c.siteId, ...details },
    })

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
      const [items, total] = await hub.db.withTenant(scopeOf(principal), (tx) =>
        tx.findAndCount(CameraSchema, where, {
          orderBy: { name: 'asc', id: 'asc' },
          limit: query.limit,
          offset: query.offset,
        }),
      )
      ctx.body = { items: items.map(cameraDto), total }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/cameras',
    tag: 'cameras',
    auth: 'user',
    summary: 'Add a camera to a site',
    body: cameraCreate,
    responses: { 201: { description: 'Created', schema: camera } },
    async handler(ctx, { body, principal }) {
      const created = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const s = await visibleSite(tx, principal, body.siteId)
        if (!can(principal, 'camera.manage', siteResource(s))) throw forbidden()
        await assertUniqueName(tx, s.id, body.name)
        await lockTenant(tx, s.tenantId)
        await hub.licensing.assertCanAdd(tx, s.tenantId, 'cameras')
        const c = tx.create(CameraSchema, {
          id: randomUUID(),
          tenantId: s.tenantId,
          siteId: s.id,
          name: body.name,
        } as Camera)
        await tx.flush()
        return c
      })
      await audit(ctx, principal, 'camera.create', created)
      ctx.status = 201
      ctx.body = cameraDto(created)
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
      ctx.body = cameraDto(
        await hub.db.withTenant(scopeOf(principal), (tx) => visibleCamera(tx, principal, params.id)),
      )
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/cameras/:id',
    tag: 'cameras',
    auth: 'user',
    summary: 'Rename a camera or move it to another site of its tenant',
    params: idParams,
    body: cameraUpdate,
    responses: { 200: { description: 'The updated camera', schema: camera } },
    async handler(ctx, { params, body, principal }) {
      const updated = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const c = await visibleCamera(tx, principal, params.id)
        if (!can(principal, 'camera.manage', cameraResource(c))) throw forbidden()
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
        await tx.flush()
        return c
      })
      await audit(ctx, principal, 'camera.update', updated, { fields: Object.keys(body) })
      ctx.body = cameraDto(updated)
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
        return c
      })
      await audit(ctx, principal, 'camera.delete', deleted)
      ctx.status = 204
    },
  })
}
