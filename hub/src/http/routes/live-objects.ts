import type { LiveObjects } from '@ts-vms/shared'
import { z } from 'zod'
import { cameraResource, visibleCamera } from '../../cameras/camera-access.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Api } from '../api.ts'
import { forbidden, HttpError } from '../errors.ts'
import { idParams } from '../schemas.ts'
import { openServerSentEvents, type ServerSentEvents } from '../server-sent-events.ts'

/**
 * `GET /api/v1/cameras/{id}/objects`: the live view's overlay as server-sent events — an `objects`
 * message after each frame analytics analyses while the camera is watched live (its agent sends
 * them then), each listing the objects that are events now with their boxes relative to the
 * picture. Needs `camera.live` on the camera, as the video does. Bounded like the update stream: a
 * few per user, ends when the access token expires, and a reader that stops reading is cut off.
 */
const MAX_PER_USER = 8
const MAX_BUFFERED = 256 * 1024
const HEARTBEAT_MS = 15_000

export function registerLiveObjectRoutes(api: Api, hub: HubContext): void {
  const perUser = new Map<string, number>()

  api.route({
    method: 'get',
    path: '/api/v1/cameras/:id/objects',
    tag: 'live',
    auth: 'user',
    summary: "The objects analytics tracks on a camera now, as server-sent events (the live view's overlay)",
    description:
      'Each `objects` event is `{ cameraId, time, objects: [{ id, label, score, box: [x1, y1, x2, y2] (0..1), stationary }] }`, ' +
      'sent after each analysed frame while the camera is watched live. Needs `camera.live`.',
    params: idParams,
    responses: {
      200: { description: 'text/event-stream', schema: z.string() },
      403: { description: 'No live view permission on the camera' },
      404: { description: 'No such camera (or not visible to you)' },
      429: { description: 'Too many overlay streams for this user' },
    },
    async handler(ctx, { params, principal }) {
      const camera = await hub.db.withTenant(scopeOf(principal), (tx) =>
        visibleCamera(tx, principal, params.id),
      )
      if (!can(principal, 'camera.live', cameraResource(camera))) throw forbidden()
      const mine = perUser.get(principal.userId) ?? 0
      if (mine >= MAX_PER_USER)
        throw new HttpError(429, 'too_many_streams', `at most ${MAX_PER_USER} overlay streams per user`)
      let events: ServerSentEvents | undefined
      const unsubscribe = hub.liveObjects.subscribe(camera.id, (m: LiveObjects) =>
        events?.send(
          `event: objects\ndata: ${JSON.stringify({ cameraId: m.cameraId, time: m.time, objects: m.objects })}\n\n`,
        ),
      )
      if (!unsubscribe)
        throw new HttpError(
          503,
          'too_many_streams',
          'this camera has as many overlay viewers as the hub serves',
        )
      perUser.set(principal.userId, mine + 1)
      events = openServerSentEvents(ctx, {
        maxBuffered: MAX_BUFFERED,
        heartbeatMs: HEARTBEAT_MS,
        first: `retry: 3000\nevent: hello\ndata: ${JSON.stringify({ cameraId: camera.id })}\n\n`,
        onClose: () => {
          unsubscribe()
          const left = (perUser.get(principal.userId) ?? 1) - 1
          if (left > 0) perUser.set(principal.userId, left)
          else perUser.delete(principal.userId)
        },
      })
    },
  })
}
