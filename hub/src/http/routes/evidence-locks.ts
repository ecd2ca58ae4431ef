import { cleanText } from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { cameraResource, visibleCamera } from '../../cameras/camera-access.ts'
import type { Tx } from '../../db/database.ts'
import { type Camera, CameraSchema } from '../../db/entities.ts'
import {
  createLock,
  deleteLock,
  type EvidenceLock,
  listLocks,
  lockById,
  TooManyLocks,
} from '../../evidence/lock-store.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can, canSee, type Resource } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { badRequest, conflict, forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery } from '../schemas.ts'
import { pushConfig } from './cameras.ts'

/**
 * Evidence locks (issue 16): a time range of some cameras' recordings kept at the sites until
 * `until`, whatever their quota. Made and removed with `evidence.manage` on every camera named;
 * read by whoever may play back (or lock) one of its cameras. Creation and removal are audited
 * (`evidence-lock.create`, `evidence-lock.delete`); the agents carry the lock in their desired
 * configuration and the lock shows `pending`/`applied` per agent (evidence/lock-store.ts).
 */
export const MAX_LOCK_SPAN_MS = 31 * 86_400_000
const MAX_REASON = 500

const isoInstant = z.iso.datetime({ offset: true })

const reason = z
  .string()
  .max(MAX_REASON, { abort: true })
  .transform((value) => cleanText(value, { maxLength: MAX_REASON, keepLineBreaks: false }).trim())
  .pipe(z.string().min(1, 'a reason is required').max(MAX_REASON))

const lockCreate = z
  .object({
    cameraIds: z.array(z.uuid()).min(1).max(64),
    from: isoInstant.describe('ISO 8601: the start of the range kept'),
    to: isoInstant.describe('ISO 8601: its end (after from, at most 31 days later)'),
    reason,
    until: isoInstant.describe('ISO 8601: keep the range until then (in the future, at or after to)'),
  })
  .strict()
  .refine((b) => Date.parse(b.to) > Date.parse(b.from), {
    message: '"to" must be after "from"',
    path: ['to'],
  })
  .refine((b) => Date.parse(b.to) - Date.parse(b.from) <= MAX_LOCK_SPAN_MS, {
    message: 'a lock spans at most 31 days',
    path: ['to'],
  })
  .refine((b) => Date.parse(b.until) >= Date.parse(b.to), {
    message: '"until" must not be before "to"',
    path: ['until'],
  })

const lockQuery = paginationQuery.extend({
  cameraId: z.uuid().optional(),
  state: z.enum(['pending', 'applied']).optional(),
})

const lockState = z.enum(['pending', 'applied'])

export const evidenceLock = z
  .object({
    id: z.uuid(),
    cameraIds: z.array(z.uuid()),
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    reason: z.string(),
    until: z.iso.datetime(),
    state: lockState.describe('applied once every agent concerned applied it'),
    agents: z.array(z.object({ agentId: z.uuid(), state: lockState })),
    tenantId: z.uuid(),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'EvidenceLock' })

const lockDto = (l: EvidenceLock) => ({
  id: l.id,
  cameraIds: l.cameraIds,
  from: l.from.toISOString(),
  to: l.to.toISOString(),
  reason: l.reason,
  until: l.until.toISOString(),
  state: l.state,
  agents: l.agents.map((a) => ({ agentId: a.agentId, state: a.state })),
  tenantId: l.tenantId,
  createdBy: l.createdBy,
  createdAt: l.createdAt.toISOString(),
})

/** The lock's cameras as resources; one deleted since stands for the whole tenant. */
async function lockResources(tx: Tx, lock: EvidenceLock): Promise<Resource[]> {
  const cameras: Camera[] = await tx.find(CameraSchema, { id: { $in: lock.cameraIds } })
  return lock.cameraIds.map((id) => {
    const c = cameras.find((x) => x.id === id)
    return c ? cameraResource(c) : { type: 'tenant' as const, tenantId: lock.tenantId }
  })
}

/** Who may read a lock: whoever sees one of its cameras and may play it back or lock it. */
const mayRead = (p: Principal, r: Resource) =>
  canSee(p, r) && (can(p, 'evidence.manage', r) || can(p, 'camera.playback', r))

export function registerEvidenceLockRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, l: EvidenceLock) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: l.tenantId,
      target: { type: 'evidence_lock', id: l.id },
      ...auditSource(ctx, p),
      details: {
        cameraIds: l.cameraIds,
        from: l.from.toISOString(),
        to: l.to.toISOString(),
        until: l.until.toISOString(),
        reason: l.reason,
        agentIds: l.agents.map((a) => a.agentId),
      },
    })

  api.route({
    method: 'post',
    path: '/api/v1/evidence-locks',
    tag: 'recordings',
    auth: 'user',
    summary: "Lock a time range of cameras' recordings at their sites until a date (evidence.manage)",
    description:
      'The agents recording the cameras keep the range whatever their quota until `until`; the lock is pending until each applied it (an agent that is away applies it when it returns).',
    body: lockCreate,
    responses: {
      201: { description: 'The lock', schema: evidenceLock },
      403: { description: 'A camera is visible but may not be locked by the caller' },
      404: { description: 'No such camera (or not visible to the caller)' },
      409: { description: 'An agent already carries too many locks' },
    },
    async handler(ctx, { body, principal }) {
      if (Date.parse(body.until) <= Date.now()) throw badRequest('"until" must be in the future')
      const made = await hub.db
        .withTenant(scopeOf(principal), async (tx) => {
          const cameras: Camera[] = []
          for (const id of new Set(body.cameraIds)) cameras.push(await visibleCamera(tx, principal, id))
          for (const c of cameras)
            if (!can(principal, 'evidence.manage', cameraResource(c)))
              throw forbidden('evidence.manage is needed on every camera of the lock')
          const tenants = new Set(cameras.map((c) => c.tenantId))
          if (tenants.size !== 1) throw badRequest("a lock's cameras must belong to one tenant")
          return createLock(tx, {
            tenantId: cameras[0]?.tenantId as string,
            cameras,
            from: new Date(body.from),
            to: new Date(body.to),
            until: new Date(body.until),
            reason: body.reason,
            createdBy: principal.userId,
          })
        })
        .catch((err: unknown) => {
          if (err instanceof TooManyLocks) throw conflict(err.message, 'too_many_locks')
          throw err
        })
      await audit(ctx, principal, 'evidence-lock.create', made.lock)
      await pushConfig(hub, made.agentIds)
      ctx.status = 201
      ctx.body = lockDto(made.lock)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/evidence-locks',
    tag: 'recordings',
    auth: 'user',
    summary: 'Evidence locks of the cameras the caller may play back or lock, newest first',
    query: lockQuery,
    responses: { 200: { description: 'Evidence locks', schema: page(evidenceLock) } },
    async handler(ctx, { query, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const cameras: Camera[] = await tx.find(CameraSchema, {})
        const visible = cameras.filter((c) => mayRead(principal, cameraResource(c))).map((c) => c.id)
        const found = await listLocks(tx, {
          visibleCameraIds: visible,
          ...(query.cameraId ? { cameraId: query.cameraId } : {}),
          ...(query.state ? { state: query.state } : {}),
          limit: query.limit,
          offset: query.offset,
        })
        return { items: found.items.map(lockDto), total: found.total }
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/evidence-locks/:id',
    tag: 'recordings',
    auth: 'user',
    summary: 'One evidence lock, with its state on each agent',
    params: idParams,
    responses: {
      200: { description: 'The lock', schema: evidenceLock },
      404: { description: 'No such lock (or none of its cameras visible to the caller)' },
    },
    async handler(ctx, { params, principal }) {
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const lock = await lockById(tx, params.id)
        if (!lock || !(await lockResources(tx, lock)).some((r) => mayRead(principal, r)))
          throw notFound('evidence lock')
        return lockDto(lock)
      })
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/evidence-locks/:id',
    tag: 'recordings',
    auth: 'user',
    summary: 'Remove an evidence lock (evidence.manage on all its cameras); its range ages out as usual',
    params: idParams,
    responses: {
      204: { description: 'Removed' },
      403: { description: 'Not allowed to manage evidence on every camera of the lock' },
      404: { description: 'No such lock (or not visible to the caller)' },
    },
    async handler(ctx, { params, principal }) {
      const removed = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const lock = await lockById(tx, params.id)
        if (!lock) throw notFound('evidence lock')
        const resources = await lockResources(tx, lock)
        if (!resources.some((r) => mayRead(principal, r))) throw notFound('evidence lock')
        if (!resources.every((r) => can(principal, 'evidence.manage', r)))
          throw forbidden('evidence.manage is needed on every camera of the lock')
        const agentIds = await deleteLock(tx, lock.id)
        return { lock, agentIds }
      })
      await audit(ctx, principal, 'evidence-lock.delete', removed.lock)
      await pushConfig(hub, removed.agentIds)
      ctx.status = 204
    },
  })
}
