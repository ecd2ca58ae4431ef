import { PassThrough } from 'node:stream'
import { z } from 'zod'
import type { HubContext } from '../../hub-context.ts'
import { mayReceive, type Update } from '../../live-updates/update-bus.ts'
import { loadPrincipal, type Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { HttpError } from '../errors.ts'

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

      const out = new PassThrough()
      const send = (text: string) => {
        if (out.destroyed) return
        if (out.writableLength + ctx.res.writableLength > MAX_BUFFERED) {
          hub.logger.warn(
            { userId: principal.userId },
            'live update stream cut off: the reader is not reading',
          )
          close()
          // Ending the body would leave what is buffered waiting for the reader: drop the connection.
          ctx.req.socket.destroy()
          return
        }
        out.write(text)
      }
      const onUpdate = (u: Update) => {
        if (!mayReceive(principal, u)) return
        send(`event: ${u.type}\ndata: ${JSON.stringify(u.data)}\n\n`)
      }
      const unsubscribe = hub.updates.subscribe(onUpdate)
      const heartbeat = setInterval(() => send(': ping\n\n'), HEARTBEAT_MS)
      // The viewer again, as each request would load them: gone, disabled or signed out everywhere
      // ends the stream; changed bindings apply from now on. A database error changes nothing.
      let checking = false
      const recheck = setInterval(() => {
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
              close()
            else principal = now
          })
          .catch((err: unknown) =>
            hub.logger.warn({ err }, 'live update stream: the viewer could not be checked; it goes on'),
          )
          .finally(() => {
            checking = false
          })
      }, hub.config.VMS_LIVE_RECHECK_SECONDS * 1000)
      const expiresAt = (ctx.state as { tokenExpiresAt?: number }).tokenExpiresAt
      const expiry = expiresAt
        ? setTimeout(() => close(), Math.max(0, Math.min(expiresAt - Date.now(), 2 ** 31 - 1)))
        : undefined
      let closed = false
      const close = () => {
        if (closed) return
        closed = true
        unsubscribe()
        clearInterval(heartbeat)
        clearInterval(recheck)
        clearTimeout(expiry)
        total -= 1
        const left = (perUser.get(principal.userId) ?? 1) - 1
        if (left > 0) perUser.set(principal.userId, left)
        else perUser.delete(principal.userId)
        out.end()
      }
      ctx.req.on('close', close)
      out.on('close', close)

      ctx.status = 200
      ctx.type = 'text/event-stream; charset=utf-8'
      ctx.set('Cache-Control', 'no-store')
      ctx.set('X-Accel-Buffering', 'no')
      ctx.body = out
      send(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ time: new Date().toISOString() })}\n\n`)
    },
  })
}
