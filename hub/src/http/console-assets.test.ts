import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Koa from 'koa'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consoleMiddleware } from './console-assets.ts'
import { errorMiddleware } from './errors.ts'

/** The console's static serving: pages for console routes, hashed assets, nothing else. */
const dist = mkdtempSync(path.join(tmpdir(), 'vms-console-dist-'))
const missing = path.join(dist, 'not-built')
let base = ''
let baseMissing = ''
const servers: import('node:http').Server[] = []

function serve(dir: string): Promise<string> {
  const app = new Koa()
  app.use(errorMiddleware(pino({ level: 'silent' })))
  app.use(consoleMiddleware(dir))
  app.use((ctx) => {
    ctx.body = 'next'
  })
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  return new Promise((resolve) =>
    server.once('listening', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  )
}

beforeAll(async () => {
  mkdirSync(path.join(dist, 'assets'))
  writeFileSync(
    path.join(dist, 'index.html'),
    '<!doctype html><script type="module" src="/assets/index-abc.js"></script>',
  )
  writeFileSync(path.join(dist, 'assets', 'index-abc.js'), 'console.log(1)')
  writeFileSync(path.join(dist, 'secret.txt'), 'not an asset')
  base = await serve(dist)
  baseMissing = await serve(missing)
})
afterAll(() => {
  for (const s of servers) s.close()
  rmSync(dist, { recursive: true, force: true })
})

describe('console assets', () => {
  it('answers every console route with the page, under the CSP and never cached', async () => {
    for (const p of [
      '/',
      '/live',
      '/playback/0b7c7e9e-3f5e-4a51-9c55-0c7a4e1e2f10?t=2026-01-01T00:00:00Z',
      '/admin/users/x',
      '/alarms/rules',
      '/cases/0b7c7e9e-3f5e-4a51-9c55-0c7a4e1e2f10',
      '/admin/evidence',
    ]) {
      const res = await fetch(`${base}${p}`)
      expect(res.status, p).toBe(200)
      expect(res.headers.get('content-type')).toContain('text/html')
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
      expect(res.headers.get('content-security-policy')).not.toContain('unsafe-inline')
      expect(res.headers.get('cache-control')).toBe('no-cache')
    }
  })

  it('serves hashed assets for a year and nothing beside them', async () => {
    const res = await fetch(`${base}/assets/index-abc.js`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/javascript')
    expect(res.headers.get('cache-control')).toContain('immutable')
    for (const p of [
      '/assets/missing.js',
      '/assets/..%2Fsecret.txt',

      '/assets/.hidden.js',
      '/assets/index-abc.exe',
    ]) {
      const res = await fetch(`${base}${p}`)
      expect(res.status, p).toBe(404)
      expect(await res.text()).not.toContain('not an asset')
    }
  })

  it('leaves the API and other paths to the routes after it', async () => {
    for (const p of ['/api/v1/me', '/healthz', '/lives', '/diagnostics/live'])
      expect(await (await fetch(`${base}${p}`)).text(), p).toBe('next')
    const post = await fetch(`${base}/live`, { method: 'POST' })
    expect(await post.text()).toBe('next')
  })

  it('says the console is not built rather than failing', async () => {
    const res = await fetch(`${baseMissing}/live`)
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('console_not_built')
  })
})
