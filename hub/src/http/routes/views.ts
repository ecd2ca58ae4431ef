import type { Context } from 'koa'
import { z } from 'zod'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import type { Principal } from '../../rbac/principal.ts'
import {
  createView,
  deleteView,
  LAYOUTS,
  listViews,
  SavedViewError,
  updateView,
} from '../../views/saved-views.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { conflict, HttpError, notFound } from '../errors.ts'
import { idParams } from '../schemas.ts'

/**
 * Saved live views (the console's named grid layouts), per user. Any signed-in user keeps their
 * own; a camera in a view is only an id: whether the user may watch it is decided when the tile
 * plays, so a view never reveals a camera and never grants one.
 */
const layout = z.enum(LAYOUTS)
const cameraIds = z.array(z.uuid().nullable()).max(16)
const viewName = z.string().trim().min(1).max(100)

const view = z.object({
  id: z.uuid(),
  name: z.string(),
  layout,
  cameraIds: z.array(z.uuid().nullable()),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
})
const viewCreate = z.object({ name: viewName, layout, cameraIds: cameraIds.default([]) }).strict()
const viewUpdate = z
  .object({ name: viewName.optional(), layout: layout.optional(), cameraIds: cameraIds.optional() })
  .strict()

const owner = (p: Principal) => ({ tenantId: p.tenantId, userId: p.userId })

function asHttp(err: unknown): unknown {
  if (!(err instanceof SavedViewError)) return err
  if (err.kind === 'not_found') return notFound('view')
  if (err.kind === 'too_many_tiles') return new HttpError(400, 'too_many_tiles', err.message)
  return conflict(err.message, err.kind === 'name_taken' ? 'view_name_taken' : 'too_many_views')
}

export function registerViewRoutes(api: Api, hub: HubContext): void {
  const run = async <T>(p: Principal, work: Parameters<typeof hub.db.withTenant<T>>[1]): Promise<T> => {
    try {
      return await hub.db.withTenant(scopeOf(p), work)
    } catch (err) {
      throw asHttp(err)
    }
  }

  /** Saving, changing and deleting a view are audited (`view.create|update|delete`, issue 16). */
  const audit = (
    ctx: Context,
    p: Principal,
    action: string,
    v: { id: string; name: string; layout: string; cameraIds: (string | null)[] },
  ) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: p.tenantId,
      target: { type: 'view', id: v.id },
      ...auditSource(ctx, p),
      details: { name: v.name, layout: v.layout, cameraIds: v.cameraIds },
    })

  api.route({
    method: 'get',
    path: '/api/v1/views',
    tag: 'views',
    auth: 'user',
    summary: 'Your saved live views, by name',
    responses: { 200: { description: 'Views', schema: z.object({ views: z.array(view) }) } },
    async handler(ctx, { principal }) {
      ctx.body = { views: await run(principal, (tx) => listViews(tx, owner(principal))) }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/views',
    tag: 'views',
    auth: 'user',
    summary: 'Save a live view (a named layout and the camera in each tile; null for an empty tile)',
    body: viewCreate,
    responses: { 201: { description: 'Saved', schema: view } },
    async handler(ctx, { body, principal }) {
      const saved = await run(principal, (tx) => createView(tx, owner(principal), body))
      await audit(ctx, principal, 'view.create', saved)
      ctx.status = 201
      ctx.body = saved
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/views/:id',
    tag: 'views',
    auth: 'user',
    summary: 'Change one of your views',
    params: idParams,
    body: viewUpdate,
    responses: { 200: { description: 'Changed', schema: view } },
    async handler(ctx, { params, body, principal }) {
      const changed = await run(principal, (tx) => updateView(tx, owner(principal), params.id, body))
      await audit(ctx, principal, 'view.update', changed)
      ctx.body = changed
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/views/:id',
    tag: 'views',
    auth: 'user',
    summary: 'Delete one of your views',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, principal }) {
      await run(principal, (tx) => deleteView(tx, owner(principal), params.id))
      await hub.audit.record({
        action: 'view.delete',
        outcome: 'success',
        tenantId: principal.tenantId,
        target: { type: 'view', id: params.id },
        ...auditSource(ctx, principal),
      })
      ctx.status = 204
    },
  })
}
