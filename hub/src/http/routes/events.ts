import { analyticsSnapshotResult, isStorableText } from '@ts-vms/shared'
import { z } from 'zod'
import { AgentRequestError } from '../../agents/agent-requests.ts'
import type { Tx } from '../../db/database.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, type Resource, visibility } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { badRequest, forbidden, HttpError, notFound } from '../errors.ts'
import { cursorTimeParams, decodeEventCursor, encodeEventCursor } from '../event-cursor.ts'
import { COUNT_CAP, cursorPage, paginationQuery } from '../schemas.ts'
import { reachableCamera } from './cameras.ts'
import { sendExport } from './recordings.ts'

/** A user's views of one event's snapshot are audited once in this window (per hub process). */
const SNAPSHOT_AUDIT_WINDOW_MS = 10 * 60_000

/** Remembers when each key was last seen, bounded (the oldest forgotten first). */
export class RecentKeys {
  private readonly seen = new Map<string, number>()
  constructor(private readonly max: number) {}

  /** True when `key` was not seen within `windowMs` (and remembers it now). */
  firstIn(key: string, windowMs: number, now = Date.now()): boolean {
    const last = this.seen.get(key)
    if (last !== undefined && now - last < windowMs) return false
    this.seen.delete(key)
    this.seen.set(key, now)
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string)
    return true
  }
}

/**
 * Events from agents (`GET /api/v1/events`), and for object events (issue 13) one event, its
 * snapshot (cached by the hub, fetched from the agent that saw it) and its clip (an export of the
 * camera's recording around it). Who sees an event is one rule, the list's: a site grant shows the
 * site's events; a camera grant shows that camera's events from its own site (see `canSeeEvent`).
 */

const eventItem = z.object({
  id: z.string(),
  tenantId: z.uuid(),
  agentId: z.uuid().nullable(),
  siteId: z.uuid().nullable(),
  cameraId: z.uuid().nullable(),
  seq: z.number().int().nullable(),
  type: z.string(),
  time: z.iso.datetime(),
  receivedAt: z.iso.datetime(),
  data: z.record(z.string(), z.unknown()),
})

/** A label or zone name to filter on: what the agent may send (1-64 characters), storable text. */
const filterText = z
  .string()
  .min(1)
  .max(64)
  .refine(isStorableText, 'must not contain NUL or a lone UTF-16 surrogate')

const eventsQuery = paginationQuery.extend({
  agentId: z.uuid().optional(),
  siteId: z.uuid().optional(),
  cameraId: z.uuid().optional(),
  type: z.string().max(64).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  tenantId: z.uuid().optional(),
  label: filterText.optional().describe('Object events with exactly this label (e.g. person)'),
  zone: filterText.optional().describe('Object events that entered this zone'),
  active: z
    .enum(['true', 'false'])
    .optional()
    .describe('Object events still in view (true: no endTime yet) or over (false)'),
  before: z
    .string()
    .optional()
    .describe("The events after this cursor (a page's `nextBefore`); not with a non-zero `offset`"),
})

/** Event ids are bigserial: digits within a signed 64-bit integer; anything else names nothing (404). */
const eventParams = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,18}$/)
    // Compared as text (same length: digit order is numeric order); zod runs this even after the
    // regex fails, so it must not throw on anything.
    .refine((v) => v.length < 19 || (v.length === 19 && v <= '9223372036854775807')),
})

const snapshotQuery = z.object({
  box: z.enum(['true', 'false']).optional().describe('The object box drawn on the picture'),
  crop: z.enum(['true', 'false']).optional().describe('Cut to the object box (with a margin)'),
})

/** Seconds of recording before an object's start and after its end in its clip. */
const CLIP_MARGIN_MS = 5_000
/** Longest clip: an object in view for hours (a parked car) is not a clip. */
const CLIP_MAX_MS = 10 * 60_000
const SNAPSHOT_MAX_AGE_SECONDS = 3600

interface EventRow {
  id: string
  tenant_id: string
  agent_id: string | null
  site_id: string | null
  camera_id: string | null
  seq: string | null
  type: string
  time: Date
  received_at: Date
  data: Record<string, unknown>
  object_id: string | null
}

const eventDto = (r: EventRow) => ({
  id: String(r.id),
  tenantId: r.tenant_id,
  agentId: r.agent_id,
  siteId: r.site_id,
  cameraId: r.camera_id,
  seq: r.seq === null ? null : Number(r.seq),
  type: r.type,
  time: new Date(r.time).toISOString(),
  receivedAt: new Date(r.received_at).toISOString(),
  data: r.data,
})

/** The rule of the list (and of the consoles' live updates, `mayReceive`) for one event. */
export function canSeeEvent(
  p: Principal,
  e: { tenant_id: string; site_id: string | null; camera_id: string | null },
): boolean {
  if (p.disabled) return false
  if (p.isSystemAdmin) return true
  if (e.tenant_id !== p.tenantId) return false
  const vis = visibility(p)
  if (vis.all) return true
  if (e.site_id !== null && vis.siteIds.has(e.site_id)) return true
  return e.camera_id !== null && e.site_id !== null && vis.cameraSites.get(e.camera_id) === e.site_id
}

async function visibleEvent(tx: Tx, p: Principal, id: string): Promise<EventRow> {
  const [row]: EventRow[] = await tx.execute('select * from events where id = ?', [id])
  if (!row || !canSeeEvent(p, row)) throw notFound('event')
  return row
}

/** An object event attributed to a camera of its site (only those have pictures and recordings). */
type ObjectEventRow = EventRow & { camera_id: string; site_id: string; agent_id: string; object_id: string }
function objectEvent(row: EventRow): ObjectEventRow {
  if (row.type !== 'object' || !row.camera_id || !row.site_id || !row.agent_id || !row.object_id)
    throw notFound('event')
  return row as ObjectEventRow
}

const cameraOf = (r: ObjectEventRow): Resource => ({
  type: 'camera',
  tenantId: r.tenant_id,
  siteId: r.site_id,
  cameraId: r.camera_id,
})

/**
 * The list's WHERE clause: the query's filters and what the principal may see. The tenant is named
 * even though row-level security adds it: the policy's `or vms_cross_tenant()` keeps the planner
 * from using it in an index, and every index of the list leads with what a query names.
 */
function eventFilter(
  query: z.infer<typeof eventsQuery>,
  principal: Principal,
): { where: string; params: unknown[] } {
  const clauses: string[] = []
  const params: unknown[] = []
  const add = (sql: string, ...values: unknown[]) => {
    clauses.push(sql)
    params.push(...values)
  }
  const tenantId = query.tenantId ?? (principal.isSystemAdmin ? undefined : principal.tenantId)
  if (tenantId) add('tenant_id = ?', tenantId)
  if (query.agentId) add('agent_id = ?', query.agentId)
  if (query.siteId) add('site_id = ?', query.siteId)
  if (query.cameraId) add('camera_id = ?', query.cameraId)
  if (query.type) add('type = ?', query.type)
  if (query.from) add('time >= ?', query.from)
  if (query.to) add('time < ?', query.to)
  if (query.label) add("type = 'object' and data->>'label' = ?", query.label)
  // Containment rather than the `?` operator, which the driver would take for a placeholder.
  if (query.zone) add("type = 'object' and data->'zones' @> ?::jsonb", JSON.stringify([query.zone]))
  if (query.active)
    add(`type = 'object' and data->>'endTime' is ${query.active === 'true' ? '' : 'not '}null`)
  const vis = visibility(principal)
  if (!vis.all) {
    const sites = [...vis.siteIds]
    // A camera grant shows that camera's events from its own site: an agent elsewhere that
    // names the camera tells nothing about it, and its events are its site's.
    const cams = [...vis.cameraSites]
    const parts = [
      sites.length ? `site_id in (${sites.map(() => '?').join(', ')})` : 'false',
      cams.length ? `(camera_id, site_id) in (${cams.map(() => '(?::uuid, ?::uuid)').join(', ')})` : 'false',
    ]
    clauses.push(`(${parts.join(' or ')})`)
    params.push(...sites, ...cams.flat())
  }
  return { where: clauses.length ? `where ${clauses.join(' and ')}` : '', params }
}

export function registerEventRoutes(api: Api, hub: HubContext): void {
  const snapshotViews = new RecentKeys(10_000)
  api.route({
    method: 'get',
    path: '/api/v1/events',
    tag: 'events',
    auth: 'user',
    summary: 'Events from agents (and agent.online/offline), newest first',
    description:
      'Object events (`type` object, issue 13) are one event per tracked object, updated in place until ' +
      'it ends; `label`, `zone` and `active` filter them (and only them). Pages either by `offset` or, ' +
      "for any depth at the same cost, by `before` (the previous page's `nextBefore`). `total` counts " +
      `at most ${COUNT_CAP} events: past that it is ${COUNT_CAP} and \`totalExact\` is false.`,
    query: eventsQuery,
    responses: {
      200: { description: 'Events', schema: cursorPage(eventItem) },
      400: { description: 'A malformed `before` cursor, or `before` with a non-zero `offset`' },
    },
    async handler(ctx, { query, principal }) {
      const cursor = query.before === undefined ? undefined : decodeEventCursor(query.before)
      if (query.before !== undefined && !cursor)
        throw badRequest('before is not a cursor of this list: pass a nextBefore as the API gave it', [
          { path: 'before', message: 'not a cursor of this list' },
        ])
      if (cursor && query.offset !== 0)
        throw badRequest('before and offset page the same list two ways: send one of them', [
          { path: 'offset', message: 'must be 0 (or absent) with before' },
        ])
      const { where, params } = eventFilter(query, principal)
      // The cursor narrows the page, never the count: `total` is the filter's, on every page.
      const page = cursor
        ? {
            where: `${where ? `${where} and` : 'where'} (time, id) < (timestamptz 'epoch' + ?::float8 * interval '1 second' + ?::float8 * interval '1 microsecond', ?::bigint)`,
            params: [...params, ...cursorTimeParams(cursor.timeUs), cursor.id],
          }
        : { where, params }
      // The count reads the newest COUNT_CAP + 1 in the list's order: that makes the planner walk
      // the list's own index, an index-only scan (unordered, it picks a table scan that is several
      // times slower). Not with the object filters: their jsonb operators are not leakproof, so
      // row-level security keeps them out of every index and the planner misjudges how many match;
      // ordered, it would sort them all.
      const objectFilter = Boolean(query.label || query.zone || query.active)
      const countOrder = objectFilter ? '' : 'order by time desc, id desc'
      const { rows, counted } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const [count]: { n: number }[] = await tx.execute(
          `select count(*)::int as n from (select 1 from events ${where} ${countOrder} limit ${COUNT_CAP + 1}) capped`,
          params,
        )
        // One more than the page: whether an older page exists, without another query.
        const list: (EventRow & { time_us: string })[] = await tx.execute(
          `select *, (extract(epoch from time) * 1000000)::bigint::text as time_us from events ${page.where}
           order by time desc, id desc limit ${query.limit + 1} offset ${cursor ? 0 : query.offset}`,
          page.params,
        )
        return { rows: list, counted: Number(count?.n ?? 0) }
      })
      const items = rows.slice(0, query.limit)
      const last = items.at(-1)
      ctx.body = {
        items: items.map(eventDto),
        total: Math.min(counted, COUNT_CAP),
        totalExact: counted <= COUNT_CAP,
        nextBefore:
          rows.length > query.limit && last
            ? encodeEventCursor({ timeUs: BigInt(last.time_us), id: String(last.id) })
            : null,
      }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/events/:id',
    tag: 'events',
    auth: 'user',
    summary: 'One event (an object event as it stands now)',
    params: eventParams,
    responses: {
      200: { description: 'The event', schema: eventItem },
      404: { description: 'No such event, or not visible to you' },
    },
    async handler(ctx, { params, principal }) {
      ctx.body = eventDto(
        await hub.db.withTenant(scopeOf(principal), (tx) => visibleEvent(tx, principal, params.id)),
      )
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/events/:id/snapshot.jpg',
    tag: 'events',
    auth: 'user',
    summary: "An object event's snapshot (JPEG): as saved, with the box drawn (`box`) or cut to it (`crop`)",
    description:
      'Needs `camera.live` or `camera.playback` on the camera. Served from the hub cache when it has it ' +
      '(`X-Cache: hit`), otherwise fetched once from the agent that saw the object and kept (`X-Cache: ' +
      'miss`). Audited as `camera.snapshot.view` (a still is footage), once per user and event in ' +
      '10 minutes, so an events page of thumbnails is one record per event, not one per scroll.',
    params: eventParams,
    query: snapshotQuery,
    responses: {
      200: { description: 'The snapshot', contentType: 'image/jpeg' },
      400: { description: 'box and crop together' },
      404: {
        description:
          'No such event (or not visible), not an object event, no snapshot saved, or the agent no longer has it (`snapshot_unknown`)',
      },
      502: { description: 'The agent answered something that is not a JPEG' },
      503: { description: 'Not cached and the agent is not connected (`agent_offline`)' },
      504: { description: 'The agent did not answer in time' },
    },
    async handler(ctx, { params, query, principal }) {
      if (query.box === 'true' && query.crop === 'true') throw badRequest('ask for box or crop, not both')
      const variant = query.box === 'true' ? 'box' : query.crop === 'true' ? 'crop' : 'full'
      const found = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const row = objectEvent(await visibleEvent(tx, principal, params.id))
        if (row.data.hasSnapshot !== true)
          throw new HttpError(404, 'snapshot_unknown', 'no snapshot was saved')
        const resource = cameraOf(row)
        if (!can(principal, 'camera.live', resource) && !can(principal, 'camera.playback', resource))
          throw forbidden()
        const [cached]: { jpeg: Buffer }[] = await tx.execute(
          'select jpeg from event_snapshots where event_id = ? and variant = ?',
          [row.id, variant],
        )
        const [agent]: { status: string }[] = cached
          ? []
          : await tx.execute('select status from agents where id = ?', [row.agent_id])
        return { row, cached: cached?.jpeg, agentOnline: agent?.status === 'online' }
      })
      let jpeg = found.cached
      if (!jpeg) {
        const { row } = found
        if (!found.agentOnline)
          throw new HttpError(
            503,
            'agent_offline',
            'the agent that saw this object is not connected; its snapshot is available when it returns',
          )
        let result: z.infer<typeof analyticsSnapshotResult>
        try {
          result = await hub.agents.requests.callParsed(
            row.agent_id,
            hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
            () => ({ op: 'analytics.snapshot', cameraId: row.camera_id, eventId: row.object_id, variant }),
            analyticsSnapshotResult,
          )
        } catch (err) {
          if (!(err instanceof AgentRequestError)) throw err
          if (err.status === 404)
            throw new HttpError(404, 'snapshot_unknown', 'the agent no longer holds this snapshot')
          throw new HttpError(err.status, err.code, err.message)
        }
        const bytes = Buffer.from(result.base64, 'base64')
        // JPEG's start-of-image marker: whatever else an agent sends is not served as image/jpeg.
        if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8)
          throw new HttpError(502, 'bad_agent_answer', 'the agent answered something that is not a JPEG')
        // Kept unless the event went meanwhile (its snapshots go with it).
        await hub.db.withTenant(scopeOf(principal), (tx) =>
          tx.execute(
            `insert into event_snapshots (event_id, variant, tenant_id, jpeg, width, height)
             select ?, ?, ?, ?, ?, ? where exists (select 1 from events where id = ?)
             on conflict (event_id, variant) do nothing`,
            [row.id, variant, row.tenant_id, bytes, result.width, result.height, row.id],
          ),
        )
        jpeg = bytes
        ctx.set('X-Cache', 'miss')
      } else ctx.set('X-Cache', 'hit')
      if (snapshotViews.firstIn(`${principal.userId}/${found.row.id}`, SNAPSHOT_AUDIT_WINDOW_MS)) {
        await hub.audit.record({
          action: 'camera.snapshot.view',
          outcome: 'success',
          tenantId: found.row.tenant_id,
          target: { type: 'camera', id: found.row.camera_id },
          ...auditSource(ctx, principal),
          details: { eventId: String(found.row.id), variant },
        })
      }
      ctx.status = 200
      ctx.type = 'image/jpeg'
      ctx.set('Cache-Control', `private, max-age=${SNAPSHOT_MAX_AGE_SECONDS}`)
      ctx.body = Buffer.from(jpeg)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/events/:id/clip.mp4',
    tag: 'events',
    auth: 'user',
    summary: "An object event's clip: the camera's recording from 5 s before it to 5 s after it (MP4)",
    description:
      `An event still in view runs to now; a clip is at most ${CLIP_MAX_MS / 60_000} minutes. Made as an ` +
      'export (`camera.export` on the camera, audited as `camera.export` with the event id, manifest at ' +
      '`X-Export-Id`).',
    params: eventParams,
    responses: {
      200: { description: 'The MP4 file', contentType: 'video/mp4' },
      404: { description: 'No such event (or not visible), not an object event, or nothing recorded then' },
      409: { description: 'The camera is not assigned to an agent' },
      503: { description: 'The agent is not connected' },
      504: { description: 'The agent did not deliver in time' },
    },
    async handler(ctx, { params, principal }) {
      const row = objectEvent(
        await hub.db.withTenant(scopeOf(principal), (tx) => visibleEvent(tx, principal, params.id)),
      )
      const start = Date.parse(String(row.data.startTime ?? ''))
      const end = row.data.endTime ? Date.parse(String(row.data.endTime)) : Number.NaN
      const fromMs = (Number.isNaN(start) ? new Date(row.time).getTime() : start) - CLIP_MARGIN_MS
      let toMs = Number.isNaN(end) ? Date.now() : end + CLIP_MARGIN_MS
      toMs = Math.min(toMs, fromMs + CLIP_MAX_MS)
      // An event stamped ahead of the hub's clock still gets a range the agent can answer.
      if (toMs <= fromMs) toMs = fromMs + 2 * CLIP_MARGIN_MS
      const c = await reachableCamera(hub, principal, row.camera_id, 'camera.export')
      await sendExport(hub, ctx, principal, c, new Date(fromMs), new Date(toMs), {
        op: 'event.clip',
        eventId: String(row.id),
        objectId: row.object_id,
      })
    },
  })
}
