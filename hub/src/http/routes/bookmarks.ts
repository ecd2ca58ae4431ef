import { randomUUID } from 'node:crypto'
import { cleanText } from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { cameraResource, visibleCamera } from '../../cameras/camera-access.ts'
import type { Tx } from '../../db/database.ts'
import { CameraSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, canSee, type Resource } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery } from '../schemas.ts'

/**
 * Bookmarks (issue 16): a named time range on a camera's recording, shown on the playback
 * timeline. Made and read with `camera.playback` on the camera; deleted by their creator or with
 * `camera.manage`. Creating and deleting are audited (`bookmark.create`, `bookmark.delete`).
 */
const MAX_SPAN_MS = 24 * 3_600_000
const MAX_TITLE = 200
const MAX_NOTE = 4000

const isoInstant = z.iso.datetime({ offset: true })

/**
 * Text as typed, made fit to store and show: control characters removed (line breaks kept only
 * in a note), trimmed. The length is checked on what was sent (`abort` stops a huge string before
 * it is scanned) and on what is kept.
 */
const cleaned = (max: number, keepLineBreaks: boolean) =>
  z
    .string()
    .max(max, { abort: true })
    .transform((value) => cleanText(value, { maxLength: max, keepLineBreaks }).trim())

const bookmarkCreate = z
  .object({
    cameraId: z.uuid(),
    from: isoInstant.describe('ISO 8601: where the bookmark starts'),
    to: isoInstant.describe('ISO 8601: where it ends (at or after from, at most 24 hours later)'),
    title: cleaned(MAX_TITLE, false).pipe(z.string().min(1, 'a title is required')),
    note: cleaned(MAX_NOTE, true).nullable().optional(),
  })
  .strict()
  .refine((b) => Date.parse(b.to) >= Date.parse(b.from), {
    message: '"to" must not be before "from"',
    path: ['to'],
  })
  .refine((b) => Date.parse(b.to) - Date.parse(b.from) <= MAX_SPAN_MS, {
    message: 'a bookmark spans at most 24 hours',
    path: ['to'],
  })

const bookmarkQuery = paginationQuery.extend({
  cameraId: z.uuid().optional(),
  from: isoInstant.optional().describe('Bookmarks ending at or after this instant'),
  to: isoInstant.optional().describe('Bookmarks starting at or before this instant'),
})

export const bookmark = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    siteId: z.uuid(),
    cameraId: z.uuid(),
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    title: z.string(),
    note: z.string().nullable(),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Bookmark' })

interface BookmarkRow {
  id: string
  tenant_id: string
  site_id: string
  camera_id: string
  from: Date
  to: Date
  title: string
  note: string | null
  created_by: string | null
  created_at: Date
  /** The camera's site now (it decides who may see the bookmark). */
  camera_site_id: string
}

const iso = (d: Date | string) => new Date(d).toISOString()

const bookmarkDto = (r: BookmarkRow) => ({
  id: r.id,
  tenantId: r.tenant_id,
  siteId: r.camera_site_id ?? r.site_id,
  cameraId: r.camera_id,
  from: iso(r.from),
  to: iso(r.to),
  title: r.title,
  note: r.note,
  createdBy: r.created_by,
  createdAt: iso(r.created_at),
})

const rowResource = (r: BookmarkRow): Resource => ({
  type: 'camera',
  tenantId: r.tenant_id,
  siteId: r.camera_site_id,
  cameraId: r.camera_id,
})

const SELECT = `select b.*, c.site_id as camera_site_id
  from bookmarks b join cameras c on c.tenant_id = b.tenant_id and c.id = b.camera_id`

async function bookmarkById(tx: Tx, id: string): Promise<BookmarkRow | undefined> {
  const rows: BookmarkRow[] = await tx.execute(`${SELECT} where b.id = ?`, [id])
  return rows[0]
}

export function registerBookmarkRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, r: BookmarkRow) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: r.tenant_id,
      target: { type: 'bookmark', id: r.id },
      ...auditSource(ctx, p),
      details: {
        cameraId: r.camera_id,
        siteId: r.camera_site_id,
        from: iso(r.from),
        to: iso(r.to),
        title: r.title,
      },
    })

  api.route({
    method: 'post',
    path: '/api/v1/bookmarks',
    tag: 'recordings',
    auth: 'user',
    summary: "Bookmark a time range of a camera's recording (needs camera.playback on the camera)",
    body: bookmarkCreate,
    responses: {
      201: { description: 'The bookmark', schema: bookmark },
      403: { description: 'The camera is visible but its recordings may not be played back' },
      404: { description: 'No such camera (or not visible to the caller)' },
    },
    async handler(ctx, { body, principal }) {
      const row = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const c = await visibleCamera(tx, principal, body.cameraId)
        if (!can(principal, 'camera.playback', cameraResource(c))) throw forbidden()
        const id = randomUUID()
        await tx.execute(
          `insert into bookmarks (id, tenant_id, site_id, camera_id, "from", "to", title, note, created_by)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            id,
            c.tenantId,
            c.siteId,
            c.id,
            new Date(body.from),
            new Date(body.to),
            body.title,
            body.note ? body.note : null,
            principal.userId,
          ],
        )
        const made = await bookmarkById(tx, id)
        if (!made) throw notFound('bookmark')
        return made
      })
      await audit(ctx, principal, 'bookmark.create', row)
      ctx.status = 201
      ctx.body = bookmarkDto(row)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/bookmarks',
    tag: 'recordings',
    auth: 'user',
    summary: 'Bookmarks overlapping a time range, of the cameras whose recordings the caller may play back',
    description: 'Ordered by start. Cameras without camera.playback for the caller contribute nothing.',
    query: bookmarkQuery,
    responses: { 200: { description: 'Bookmarks', schema: page(bookmark) } },
    async handler(ctx, { query, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const cameras = await tx.find(CameraSchema, query.cameraId ? { id: query.cameraId } : {})
        const allowed = cameras
          .filter((c) => {
            const r = cameraResource(c)
            return canSee(principal, r) && can(principal, 'camera.playback', r)
          })
          .map((c) => c.id)
        if (allowed.length === 0) return { items: [], total: 0 }
        const where = ['b.camera_id in (?)']
        const args: unknown[] = [allowed]
        if (query.from) {
          where.push('b."to" >= ?')
          args.push(new Date(query.from))
        }
        if (query.to) {
          where.push('b."from" <= ?')
          args.push(new Date(query.to))
        }
        const filter = where.join(' and ')
        const counted: { n: number }[] = await tx.execute(
          `select count(*)::int as n from bookmarks b where ${filter}`,
          args,
        )
        const rows: BookmarkRow[] = await tx.execute(
          `${SELECT} where ${filter} order by b."from", b.id limit ? offset ?`,
          [...args, query.limit, query.offset],
        )
        return { items: rows.map(bookmarkDto), total: counted[0]?.n ?? 0 }
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/bookmarks/:id',
    tag: 'recordings',
    auth: 'user',
    summary: 'One bookmark',
    params: idParams,
    responses: {
      200: { description: 'The bookmark', schema: bookmark },
      404: { description: 'No such bookmark, or its camera may not be played back by the caller' },
    },
    async handler(ctx, { params, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const row = await bookmarkById(tx, params.id)
        if (
          !row ||
          !canSee(principal, rowResource(row)) ||
          !can(principal, 'camera.playback', rowResource(row))
        )
          throw notFound('bookmark')
        return bookmarkDto(row)
      })
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/bookmarks/:id',
    tag: 'recordings',
    auth: 'user',
    summary: 'Delete a bookmark (its creator, or camera.manage on its camera)',
    params: idParams,
    responses: {
      204: { description: 'Deleted' },
      403: { description: 'Neither the creator nor allowed to manage the camera' },
      404: { description: 'No such bookmark (or not visible to the caller)' },
    },
    async handler(ctx, { params, principal }) {
      const row = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const found = await bookmarkById(tx, params.id)
        if (!found || !canSee(principal, rowResource(found))) throw notFound('bookmark')
        const resource = rowResource(found)
        const mine = found.created_by === principal.userId && found.tenant_id === principal.tenantId
        if (!mine && !can(principal, 'camera.manage', resource)) {
          if (!can(principal, 'camera.playback', resource)) throw notFound('bookmark')
          throw forbidden('only the creator or a camera manager may delete this bookmark')
        }
        await tx.execute('delete from bookmarks where id = ?', [found.id])
        return found
      })
      await audit(ctx, principal, 'bookmark.delete', row)
      ctx.status = 204
    },
  })
}
