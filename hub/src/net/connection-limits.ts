import type http from 'node:http'
import { type BlockList, isIP, type Server, type Socket } from 'node:net'

/**
 * Connection-level defences shared by the HTTP server and the embedded MQTT broker: a cap on
 * concurrent connections per client address, and (HTTP) a short deadline for request bodies.
 */

/** `::ffff:1.2.3.4` and `1.2.3.4` are one client. */
export function normaliseAddress(address: string | undefined): string {
  const a = (address ?? '').trim()
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a
}

/** Counts open connections per address and refuses one over `max`. Pure bookkeeping, no I/O. */
export class AddressCounter {
  private readonly open = new Map<string, number>()

  constructor(readonly max: number) {}

  /** Takes a slot for `address`; false (and nothing taken) when it already has `max`. */
  acquire(address: string): boolean {
    const n = this.open.get(address) ?? 0
    if (n >= this.max) return false
    this.open.set(address, n + 1)
    return true
  }

  release(address: string): void {
    const n = this.open.get(address) ?? 0
    if (n <= 1) this.open.delete(address)
    else this.open.set(address, n - 1)
  }

  count(address: string): number {
    return this.open.get(normaliseAddress(address)) ?? 0
  }
}

function listed(list: BlockList | undefined, address: string): boolean {
  const family = isIP(address)
  return list !== undefined && family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4')
}

/**
 * Caps the connections one client address holds on `server` (counted at TCP accept, so before a
 * TLS handshake or any request); the one over the cap is destroyed at once. Addresses in `exempt`
 * (trusted reverse proxies, which carry many clients' connections) are not counted.
 */
export function limitConnectionsPerAddress(
  server: Server,
  options: { max: number; exempt?: BlockList; onRefused?: (address: string) => void },
): AddressCounter {
  const counter = new AddressCounter(options.max)
  server.on('connection', (socket: Socket) => {
    const address = normaliseAddress(socket.remoteAddress)
    if (!address || listed(options.exempt, address)) return
    if (!counter.acquire(address)) {
      options.onRefused?.(address)
      socket.destroy()
      return
    }
    socket.once('close', () => counter.release(address))
  })
  return counter
}

const REQUEST_TIMEOUT_RESPONSE =
  'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'

/**
 * A deadline for receiving each request's body, counted from the end of its headers: `bodyMs`,
 * or `longBodyMs` for requests `isLongBody` names (uploads). Node's own `requestTimeout` is one
 * value for every route, so a slow-body client could hold any route as long as the slowest
 * upload may take. Once the response has been sent, what is left of the body is worth nothing,
 * so a long-body request the hub has already answered (refused, say) falls back to `bodyMs`.
 * At the deadline the client gets 408 (if nothing was answered yet) and the connection closes.
 */
export function limitRequestBodyTime(
  server: http.Server,
  options: {
    bodyMs: number
    longBodyMs: number
    isLongBody: (req: http.IncomingMessage) => boolean
    onTimeout?: (req: http.IncomingMessage) => void
  },
): void {
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket
    const started = Date.now()
    const expire = () => {
      if (req.complete || socket.destroyed) return
      options.onTimeout?.(req)
      if (!res.headersSent && socket.writable) socket.write(REQUEST_TIMEOUT_RESPONSE)
      socket.destroy()
    }
    let timer = setTimeout(expire, options.isLongBody(req) ? options.longBodyMs : options.bodyMs)
    timer.unref()
    res.once('finish', () => {
      clearTimeout(timer)
      if (req.complete) return
      timer = setTimeout(expire, Math.max(0, options.bodyMs - (Date.now() - started)))
      timer.unref()
    })
    // Closed before the response finished (client gone): nothing left to time.
    res.once('close', () => {
      if (!res.writableFinished || req.complete) clearTimeout(timer)
    })
  })
}

/** Routes whose bodies may legitimately take long: agents' export uploads. */
export function isUploadRequest(req: http.IncomingMessage): boolean {
  if (req.method !== 'PUT' || !req.url) return false
  let pathname: string
  try {
    pathname = new URL(req.url, 'http://hub').pathname
  } catch {
    return false
  }
  return /^\/api\/v1\/agent\/uploads\/[^/]+$/.test(pathname)
}
