import { z } from 'zod'
import { HEALTH_BUCKET_MINUTES, readHealthHistory } from '../../agents/health-history.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { canSee, canSeeWholeSite } from '../../rbac/authorize.ts'
import type { Api } from '../api.ts'
import { idParams } from '../schemas.ts'
import { visibleAgent } from './agents.ts'

/**
 * An agent's health over time (issue 17): its downsampled history, one bucket per 5 minutes
 * (hub/src/agents/health-history.ts). Visible to whoever sees the agent; per-camera figures only
 * for the cameras the caller sees, as in the agent's last health.
 */
const MAX_SPAN_MS = 7 * 86_400_000
const DEFAULT_SPAN_MS = 86_400_000

const isoInstant = z.iso.datetime({ offset: true })
const historyQuery = z
  .object({
    from: isoInstant.optional().describe('ISO 8601; default: 24 hours before `to`'),
    to: isoInstant.optional().describe('ISO 8601, after from, at most 7 days later; default: now'),
  })
  .superRefine((q, ctx) => {
    if (!q.from || !q.to) return
    const span = Date.parse(q.to) - Date.parse(q.from)
    if (!(span > 0)) ctx.addIssue({ code: 'custom', message: '"to" must be after "from"', path: ['to'] })
    else if (span > MAX_SPAN_MS)
      ctx.addIssue({ code: 'custom', message: 'the range spans at most 7 days', path: ['to'] })
  })

/** The range asked for, with the defaults: `to` now, `from` a day before `to` (or after `from`). */
export function historyRange(q: { from?: string; to?: string }, nowMs: number): { from: Date; to: Date } {
  if (q.from && q.to) return { from: new Date(q.from), to: new Date(q.to) }
  if (q.from) {
    const from = Date.parse(q.from)
    return { from: new Date(from), to: new Date(Math.min(from + DEFAULT_SPAN_MS, Math.max(nowMs, from + 1))) }
  }
  const to = q.to ? Date.parse(q.to) : nowMs
  return { from: new Date(to - DEFAULT_SPAN_MS), to: new Date(to) }
}

const bucket = z.object({
  bucketStart: z.iso.datetime(),
  samples: z.number().int().describe('Heartbeats in the bucket'),
  firstAt: z.iso.datetime(),
  lastAt: z.iso.datetime(),
  cameras: z.number().int().describe('Cameras in the last heartbeat of the bucket'),
  streamingMin: z.number().int().describe('Fewest cameras streaming in any heartbeat of the bucket'),
  streamingLast: z.number().int(),
  unreachableMax: z.number().int().describe('Most cameras whose health probe failed'),
  outboxDepthMax: z.number().nullable(),
  outboxAgeMaxSeconds: z.number().nullable(),
  diskFreeMinBytes: z.number().nullable(),
  diskTotalBytes: z.number().nullable(),
  recordingBytes: z.number().nullable(),
  cameraFigures: z
    .array(
      z.object({
        cameraId: z.string(),
        streaming: z.number().int().describe('Streams streaming'),
        fps: z.number(),
        kbps: z.number(),
        lostPackets: z.number().int().describe("The agent's counter since it started"),
        reconnects: z.number().int().describe("The agent's counter since it started"),
        reachable: z.boolean().nullable(),
      }),
    )
    .describe("Each camera's figures in the last heartbeat of the bucket"),
})

export function registerAgentHealthRoutes(api: Api, hub: HubContext): void {
  api.route({
    method: 'get',
    path: '/api/v1/agents/:id/health-history',
    tag: 'agents',
    auth: 'user',
    summary: `An agent's health over time, one bucket per ${HEALTH_BUCKET_MINUTES} minutes (at most 7 days)`,
    params: idParams,
    query: historyQuery,
    responses: {
      200: {
        description: 'The buckets, oldest first',
        schema: z.object({ bucketMinutes: z.number().int(), buckets: z.array(bucket) }),
      },
      400: { description: 'Invalid range' },
      404: { description: 'No such agent (or not visible)' },
    },
    async handler(ctx, { params, query, principal }) {
      const { from, to } = historyRange(query, Date.now())
      const { agent, buckets } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const agent = await visibleAgent(tx, principal, params.id)
        return { agent, buckets: await readHealthHistory(tx, agent.id, from, to) }
      })
      const site = { type: 'site' as const, tenantId: agent.tenant_id, siteId: agent.site_id }
      const whole = canSeeWholeSite(principal, site)
      ctx.body = {
        bucketMinutes: HEALTH_BUCKET_MINUTES,
        buckets: whole
          ? buckets
          : buckets.map((b) => ({
              ...b,
              cameraFigures: b.cameraFigures.filter((c) =>
                canSee(principal, { ...site, type: 'camera', cameraId: c.cameraId }),
              ),
            })),
      }
    },
  })
}
