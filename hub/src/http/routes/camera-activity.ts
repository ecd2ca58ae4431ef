import { z } from 'zod'
import { visibleCamera } from '../../cameras/camera-access.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import type { Api } from '../api.ts'
import { idParams } from '../schemas.ts'

/**
 * A camera's activity over time for the playback timeline (issue 13): per bucket, the seconds of
 * motion its agent measured (summed from the 10 s buckets in `camera_activity`) and the object
 * events that started in it, by label. Read from the hub's database: no agent is asked.
 */
const MAX_SPAN_MS = 7 * 86_400_000
const MAX_BUCKETS = 2000

const isoInstant = z.iso.datetime({ offset: true })
const activityQuery = z
  .object({
    from: isoInstant.describe('ISO 8601, e.g. 2026-11-24T10:00:00.000Z'),
    to: isoInstant.describe('ISO 8601, after from, at most 7 days later'),
    bucketSeconds: z.coerce
      .number()
      .int()
      .min(10)
      .max(86_400)
      .multipleOf(10)
      .default(60)
      .describe(`Bucket length: a multiple of 10 s, at most ${MAX_BUCKETS} buckets in the range`),
  })
  .superRefine((q, ctx) => {
    const span = Date.parse(q.to) - Date.parse(q.from)
    if (!(span > 0)) ctx.addIssue({ code: 'custom', message: '"to" must be after "from"', path: ['to'] })
    else if (span > MAX_SPAN_MS)
      ctx.addIssue({ code: 'custom', message: 'the range spans at most 7 days', path: ['to'] })
    else if (Math.ceil(span / (q.bucketSeconds * 1000)) > MAX_BUCKETS)
      ctx.addIssue({
        code: 'custom',
        message: `at most ${MAX_BUCKETS} buckets: choose longer buckets or a shorter range`,
        path: ['bucketSeconds'],
      })
  })

const activityResponse = z.object({
  buckets: z.array(
    z.object({
      start: z.iso.datetime(),
      motionSeconds: z.number().nonnegative(),
      objects: z
        .record(z.string(), z.number().int().nonnegative())
        .describe('Object events started, by label'),
    }),
  ),
})

export function registerCameraActivityRoutes(api: Api, hub: HubContext): void {
  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id/activity',
    tag: 'cameras',
    auth: 'user',
    summary: "A camera's motion seconds and object events per time bucket, for the playback timeline",
    description:
      'Every bucket of [from, to) in order, empty ones included. `motionSeconds` sums what the agent ' +
      "measured; `objects` counts the camera's object events (from its own site) that started in the bucket.",
    params: idParams,
    query: activityQuery,
    responses: {
      200: { description: 'The buckets', schema: activityResponse },
      404: { description: 'No such camera, or not visible to you' },
    },
    async handler(ctx, { params, query, principal }) {
      const from = new Date(query.from)
      const to = new Date(query.to)
      const bucketMs = query.bucketSeconds * 1000
      const count = Math.ceil((to.getTime() - from.getTime()) / bucketMs)
      const { motion, objects } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const c = await visibleCamera(tx, principal, params.id)
        // Bucket index computed in the database, from the range's start.
        const index = (column: string) =>
          `floor(extract(epoch from (${column} - ?::timestamptz)) * 1000 / ?)::int`
        const motion: { i: number; seconds: number }[] = await tx.execute(
          `select ${index('bucket_start')} as i, sum(motion_seconds)::float8 as seconds
             from camera_activity
            where camera_id = ? and bucket_start >= ? and bucket_start < ?
            group by 1`,
          [from.toISOString(), bucketMs, c.id, from.toISOString(), to.toISOString()],
        )
        // Events of this camera from its own site: what a viewer of the camera is shown of it.
        const objects: { i: number; label: string | null; n: number }[] = await tx.execute(
          `select ${index('time')} as i, data->>'label' as label, count(*)::int as n
             from events
            where camera_id = ? and site_id = ? and type = 'object' and time >= ? and time < ?
            group by 1, 2`,
          [from.toISOString(), bucketMs, c.id, c.siteId, from.toISOString(), to.toISOString()],
        )
        return { motion, objects }
      })
      const buckets = Array.from({ length: count }, (_, i) => ({
        start: new Date(from.getTime() + i * bucketMs).toISOString(),
        motionSeconds: 0,
        // A Map, then entries: a label such as `__proto__` stays a label.
        labels: new Map<string, number>(),
      }))
      for (const m of motion) {
        const b = buckets[Number(m.i)]
        if (b) b.motionSeconds = Math.round(Number(m.seconds) * 1000) / 1000
      }
      for (const o of objects) {
        const b = buckets[Number(o.i)]
        if (b && o.label !== null) b.labels.set(o.label, (b.labels.get(o.label) ?? 0) + Number(o.n))
      }
      ctx.body = {
        buckets: buckets.map(({ labels, ...b }) => ({ ...b, objects: Object.fromEntries(labels) })),
      }
    },
  })
}
