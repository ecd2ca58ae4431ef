import { PassThrough } from 'node:stream'
import type { Context } from 'koa'

/**
 * A server-sent event response the console reads with fetch: bounded (a reader that stops reading
 * is cut off rather than buffered for), kept alive by comments, and ended when the access token
 * that opened it expires. `onClose` runs once, however the stream ends (the reader left, it was
 * cut off, the token expired, or the caller closed it).
 */
export interface ServerSentEvents {
  send(text: string): void
  close(): void
}

export function openServerSentEvents(
  ctx: Context,
  o: {
    /** Unread bytes allowed to pile up before the reader is cut off. */
    maxBuffered: number
    heartbeatMs: number
    /** The first message (`retry:` and a hello event, say). */
    first: string
    onOverflow?: () => void
    onClose: () => void
  },
): ServerSentEvents {
  const out = new PassThrough()
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    clearInterval(heartbeat)
    clearTimeout(expiry)
    o.onClose()
    out.end()
  }
  const send = (text: string) => {
    if (out.destroyed) return
    if (out.writableLength + ctx.res.writableLength > o.maxBuffered) {
      o.onOverflow?.()
      close()
      // Ending the body would leave what is buffered waiting for the reader: drop the connection.
      ctx.req.socket.destroy()
      return
    }
    out.write(text)
  }
  const heartbeat = setInterval(() => send(': ping\n\n'), o.heartbeatMs)
  const expiresAt = (ctx.state as { tokenExpiresAt?: number }).tokenExpiresAt
  const expiry = expiresAt
    ? setTimeout(() => close(), Math.max(0, Math.min(expiresAt - Date.now(), 2 ** 31 - 1)))
    : undefined
  ctx.req.on('close', close)
  out.on('close', close)
  ctx.status = 200
  ctx.type = 'text/event-stream; charset=utf-8'
  ctx.set('Cache-Control', 'no-store')
  ctx.set('X-Accel-Buffering', 'no')
  ctx.body = out
  send(o.first)
  return { send, close }
}
