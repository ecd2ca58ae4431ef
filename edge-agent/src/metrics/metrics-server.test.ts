import net from 'node:net'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { isMetricsRequest, MetricsListenError, startMetricsServer } from './metrics-server.ts'

const logger = pino({ level: 'silent' })

describe('isMetricsRequest', () => {
  it('is GET (or HEAD) /metrics, with or without a query, and nothing else', () => {
    expect(isMetricsRequest('GET', '/metrics')).toBe(true)
    expect(isMetricsRequest('HEAD', '/metrics?x=1')).toBe(true)
    expect(isMetricsRequest('POST', '/metrics')).toBe(false)
    expect(isMetricsRequest('GET', '/metrics/')).toBe(false)
    expect(isMetricsRequest('GET', '/')).toBe(false)
  })
})

describe('startMetricsServer', () => {
  it('serves the metrics on loopback at a free port, 404 otherwise, 500 when they cannot be had', async () => {
    let fail = false
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      render: async () => {
        if (fail) throw new Error('broken')
        return '# HELP x y\nx 1\n'
      },
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      logger,
    })
    try {
      expect(server.port).toBeGreaterThan(0)
      const base = `http://127.0.0.1:${server.port}`
      const ok = await fetch(`${base}/metrics`)
      expect(ok.status).toBe(200)
      expect(ok.headers.get('content-type')).toContain('version=0.0.4')
      expect(await ok.text()).toContain('x 1')
      expect((await fetch(`${base}/`)).status).toBe(404)
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(404)
      fail = true
      expect((await fetch(`${base}/metrics`)).status).toBe(500)
    } finally {
      await server.close()
    }
  })

  it('says which address it could not take', async () => {
    const taken = net.createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    const port = (taken.address() as net.AddressInfo).port
    try {
      const started = startMetricsServer({
        host: '127.0.0.1',
        port,
        render: async () => '',
        contentType: 'text/plain',
        logger,
      })
      await expect(started).rejects.toBeInstanceOf(MetricsListenError)
      await expect(started).rejects.toThrow(`127.0.0.1:${port}`)
    } finally {
      await new Promise((r) => taken.close(r))
    }
  })
})
