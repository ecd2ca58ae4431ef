import { z } from 'zod'
import type { HubContext } from '../../hub-context.ts'
import { mayReceive, type Update } from '../../live-updates/update-bus.ts'
import { loadPrincipal, type Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { HttpError } from '../errors.ts'
import { openServerSentEvents } from '../server-sent-events.ts'

/**
 * `GET /api/v1/stream`: server-sent events for the console. Camera and agent state changes and new
 * events, each only if the user may see what it is about (the same rule as the lists). The stream
 * ends when the access token that opened it expires (the console reconnects with a fresh token),
 * and sooner when the check every `VMS_LIVE_RECHECK_SECONDS` (the one live sessions get) finds the
 * account gone or disabled or its sessions ended; that check also picks up changed role bindings.
 * Bounded: a few streams per user, and a reader that stops reading is disconnected rather than
 * buffered for.
 */
const MAX_STREAMS_PER_USER = 10
const MAX_STREAMS = 2000
/** Unread bytes allowed to pile up for one reader before it is cut off. */
const MAX_BUFFERED = 1024 * 1024
const HEARTBEAT_MS = 15_000

export function registerStreamRoutes(api: Api, hub: HubContext): void {
  const perUser = new Map<string, number>()
  let total = 0

  api.route({
    method: 'get',
    path: '/api/v1/stream',
    tag: 'events',
    auth: 'user',
    summary:
      'Live updates as server-sent events: `agent`, `camera` and `event`, filtered by what you may see, and `live` when the hub ends one of your live sessions (ends when the access token expires, the account is disabled or its sessions end)',
    responses: { 200: { description: 'text/event-stream', schema: z.string() } },
    async handler(ctx, { principal: opener }) {
      let principal: Principal = opener
      const mine = perUser.get(principal.userId) ?? 0
      if (mine >= MAX_STREAMS_PER_USER)
        throw new HttpError(
          429,
          'too_many_streams',
          `at most ${MAX_STREAMS_PER_USER} live update streams per user`,
        )
      if (total >= MAX_STREAMS)
        throw new HttpError(
          503,
          'too_many_streams',
          'the hub serves as many update streams as it can; try again shortly',
          undefined,
          {
            'Retry-After': '10',
          },
        )
      perUser.set(principal.userId, mine + 1)
      total += 1

      // Set before any update can be sent; the stream's own close runs these once.
      let unsubscribe = () => {}
      let recheck: NodeJS.Timeout | undefined
      const events = openServerSentEvents(ctx, {
        maxBuffered: MAX_BUFFERED,
        heartbeatMs: HEARTBEAT_MS,
        first: `retry: 3000\nevent: hello\ndata: ${JSON.stringify({ time: new Date().toISOString() })}\n\n`,
        onOverflow: () =>
          hub.logger.warn(
            { userId: principal.userId },
            'live update stream cut off: the reader is not reading',
          ),
        onClose: () => {
          unsubscribe()
          clearInterval(recheck)
          total -= 1
          const left = (perUser.get(principal.userId) ?? 1) - 1
          if (left > 0) perUser.set(principal.userId, left)
          else perUser.delete(principal.userId)
        },
      })
      unsubscribe = hub.updates.subscribe((u: Update) => {
        if (!mayReceive(principal, u)) return
        events.send(`event: ${u.type}\ndata: ${JSON.stringify(u.data)}\n\n`)
      })
      // The viewer again, as each request would load them: gone, disabled or signed out everywhere
      // ends the stream; changed bindings apply from now on. A database error changes nothing.
      let checking = false
      recheck = setInterval(() => {
        if (checking) return
        checking = true
        hub.db
          .withTenant({ tenantId: opener.tenantId }, (tx) =>
            loadPrincipal(tx, opener.userId, hub.systemTenantId),
          )
          .then((now) => {
            if (
              !now ||
              now.tenantId !== opener.tenantId ||
              now.disabled ||
              now.sessionVersion !== opener.sessionVersion
            )
              events.close()
            else principal = now
          })
          .catch((err: unknown) =>
            hub.logger.warn({ err }, 'live update stream: the viewer could not be checked; it goes on'),
          )
          .finally(() => {
            checking = false
          })
      }, hub.config.VMS_LIVE_RECHECK_SECONDS * 1000)
    },
  })
}
