import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'

/**
 * The agent's only HTTP listener: `GET /metrics` (Prometheus text), 404 for anything else. It has
 * no authentication, and the metrics name cameras, so it binds to loopback unless the operator
 * chooses another address (docs/devices.md, "Health probes and metrics").
 */
export interface MetricsServer {
  readonly host: string
  readonly port: number
  close(): Promise<void>
}

export interface MetricsServerOptions {
  host: string
  /** 0: any free port (the one taken is on the returned server, and logged). */
  port: number
  render: () => Promise<string>
  contentType: string
  logger: Logger
}

/** What a request gets: the metrics, or 404 for any other method or path. */
export const isMetricsRequest = (method: string | undefined, url: string | undefined): boolean => {
  if (method !== 'GET' && method !== 'HEAD') return false
  const path = (url ?? '').split('?')[0]
  return path === '/metrics'
}

export class MetricsListenError extends Error {
  override name = 'MetricsListenError'
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (!isMetricsRequest(req.method, req.url)) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
      return
    }
    o.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': o.contentType, 'cache-control': 'no-store' })
        res.end(req.method === 'HEAD' ? undefined : text)
      },
      (err: unknown) => {
        o.logger.warn({ err }, 'metrics could not be collected')
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n')
      },
    )
  })
  // A scraper that stalls must not hold sockets open forever.
  server.requestTimeout = 10_000
  server.headersTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new MetricsListenError(`cannot serve metrics on ${o.host}:${o.port}: ${err.message}`)),
    )
    server.listen(o.port, o.host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    host: o.host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
