import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Redis } from 'ioredis'
import RedisMock from 'ioredis-mock'
import { afterAll, describe, expect, it } from 'vitest'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { createTestDatabase } from '../helpers/test-database.ts'
import { ADMIN_PASSWORD, startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

const REDIS_URL = process.env.VMS_TEST_REDIS_URL

const login = (t: TestHub, username: string, password: string, headers: Record<string, string> = {}) =>
  t.request('POST', '/api/v1/auth/login', { body: { tenant: 'system', username, password }, headers })

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

describe('login limits', () => {
  it('lock an account after 10 failures in 15 minutes, even for the right password', async () => {
    const t = await startTestHub()
    cleanups.push(() => t.close())
    for (let i = 0; i < 10; i++) expect((await login(t, 'admin', `wrong-password-${i}`)).status).toBe(401)
    const locked = await login(t, 'admin', ADMIN_PASSWORD)
    expect(locked.status).toBe(429)
    expect(locked.body.error.code).toBe('rate_limited')
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(locked.headers.get('ratelimit-limit')).toBe('10')
    expect(locked.headers.get('ratelimit-remaining')).toBe('0')
    expect(Number(locked.headers.get('ratelimit-reset'))).toBeGreaterThan(0)
    // The username key is case-insensitive, and other accounts are unaffected.
    expect((await login(t, 'ADMIN', ADMIN_PASSWORD)).status).toBe(429)
    const lockouts = t.logs.entries().filter((e) => e.action === 'auth.login.lockout')
    expect(lockouts).toHaveLength(1)
    expect(lockouts[0]?.details.limits).toEqual(['user'])
  })

  it('limit failures per client address across usernames, honouring X-Forwarded-For only from trusted proxies', async () => {
    const t = await startTestHub({ VMS_LOGIN_MAX_FAILURES_PER_IP: 5, VMS_TRUST_PROXY: '127.0.0.1' })
    cleanups.push(() => t.close())
    const from = (ip: string) => ({ 'x-forwarded-for': ip })
    for (let i = 0; i < 5; i++)
      expect((await login(t, `user${i}`, 'wrong-password', from('203.0.113.9'))).status).toBe(401)
    expect((await login(t, 'admin', ADMIN_PASSWORD, from('203.0.113.9'))).status).toBe(429)
    expect((await login(t, 'admin', ADMIN_PASSWORD, from('198.51.100.1'))).status).toBe(200)
    const failures = t.logs.entries().filter((e) => e.action === 'auth.login.failure')
    expect(failures.at(-1)?.clientIp).toBe('203.0.113.9')
  })

  it('are shared by hub instances on one Redis', async () => {
    const db = await createTestDatabase()
    // Real Redis in CI; otherwise an in-process Redis (ioredis-mock runs the same Lua script).
    const clients: Redis[] = REDIS_URL
      ? [new Redis(REDIS_URL), new Redis(REDIS_URL)]
      : [new RedisMock(), new RedisMock()]
    const prefix = `vmstest:shared:${Date.now()}:`
    const a = await startTestHub({ VMS_REDIS_KEY_PREFIX: prefix }, { db, redis: clients[0] as Redis })
    const b = await startTestHub(
      { VMS_REDIS_KEY_PREFIX: prefix, VMS_MASTER_KEY: a.config.VMS_MASTER_KEY },
      { db, redis: clients[1] as Redis },
    )
    cleanups.push(async () => {
      await a.close()
      await b.close()
      for (const c of clients) c.disconnect()
      await db.drop()
    })
    for (let i = 0; i < 5; i++) {
      expect((await login(a, 'admin', 'wrong-password')).status).toBe(401)
      expect((await login(b, 'admin', 'wrong-password')).status).toBe(401)
    }
    expect((await login(a, 'admin', ADMIN_PASSWORD)).status).toBe(429)
    expect((await login(b, 'admin', ADMIN_PASSWORD)).status).toBe(429)
  })
})

describe('API and password-reset limits', () => {
  it('limit authenticated requests per user and report the quota', async () => {
    const t = await startTestHub({ VMS_API_RATE_PER_MINUTE: 5 })
    cleanups.push(() => t.close())
    const admin = (await t.login('system', 'admin', ADMIN_PASSWORD)).accessToken
    const created = await t.request('POST', '/api/v1/users', {
      token: admin,
      body: { username: 'other', password: USER_PASSWORD },
    })
    expect(created.status).toBe(201)
    const first = await t.request('GET', '/api/v1/me', { token: admin })
    expect(first.headers.get('ratelimit-limit')).toBe('5')
    expect(first.headers.get('ratelimit-remaining')).toBe('3')
    for (let i = 0; i < 3; i++)
      expect((await t.request('GET', '/api/v1/me', { token: admin })).status).toBe(200)
    const refused = await t.request('GET', '/api/v1/me', { token: admin })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBeTruthy()
    const other = (await t.login('system', 'other', USER_PASSWORD)).accessToken
    expect((await t.request('GET', '/api/v1/me', { token: other })).status).toBe(200)
  })

  it('allow 5 password-reset requests per account per hour', async () => {
    const t = await startTestHub()
    cleanups.push(() => t.close())
    const body = { tenant: 'system', email: 'Someone@Example.com' }
    for (let i = 0; i < 5; i++)
      expect((await t.request('POST', '/api/v1/auth/password-reset', { body })).status).toBe(202)
    const refused = await t.request('POST', '/api/v1/auth/password-reset', {
      body: { ...body, email: 'someone@example.com' },
    })
    expect(refused.status).toBe(429)
    expect(
      (await t.request('POST', '/api/v1/auth/password-reset', { body: { ...body, email: 'x@example.com' } }))
        .status,
    ).toBe(202)
  })
})

describe('when Redis is unreachable', () => {
  it('falls back to memory (never open, never 500) and warns', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-rl-'))
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }))
    // Nothing listens on port 9 (discard) here: every Redis call fails.
    const t = await startTestHub({ VMS_REDIS_URL: 'redis://127.0.0.1:9', VMS_LOGIN_MAX_FAILURES_PER_USER: 3 })
    cleanups.push(() => t.close())
    for (let i = 0; i < 3; i++) expect((await login(t, 'admin', 'wrong-password')).status).toBe(401)
    expect((await login(t, 'admin', ADMIN_PASSWORD)).status).toBe(429)
    expect(t.logs.entries().some((e) => e.level === 40 && /fall back/.test(e.msg))).toBe(true)
    const metrics = await t.hub.context.metrics.registry.getSingleMetricAsString('vms_rate_limit_degraded')
    expect(metrics).toMatch(/vms_rate_limit_degraded\{[^}]*\} 1/)
  })

  it.skipIf(!REDIS_URL)('returns to Redis when it is back (real Redis through a TCP proxy)', async () => {
    const target = new URL(REDIS_URL as string)
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 6379))
    cleanups.push(() => proxy.close())
    const t = await startTestHub({
      VMS_REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      VMS_LOGIN_MAX_FAILURES_PER_USER: 3,
    })
    cleanups.push(() => t.close())
    const degraded = async () =>
      /vms_rate_limit_degraded\{[^}]*\} 1/.test(
        await t.hub.context.metrics.registry.getSingleMetricAsString('vms_rate_limit_degraded'),
      )
    expect((await login(t, 'admin', 'wrong-password')).status).toBe(401) // 1 in Redis
    proxy.cut()
    expect((await login(t, 'admin', 'wrong-password')).status).toBe(401) // 1 in memory
    expect(await degraded()).toBe(true)
    proxy.restore()
    // ioredis reconnects on its own; the next successful call switches back.
    await expect
      .poll(async () => (await login(t, 'nobody', 'wrong-password')).status === 401 && !(await degraded()), {
        timeout: 15_000,
        interval: 250,
      })
      .toBe(true)
    expect((await login(t, 'admin', 'wrong-password')).status).toBe(401) // 2 in Redis
    expect((await login(t, 'admin', ADMIN_PASSWORD)).status).toBe(200) // Redis kept its count: one left
    expect((await login(t, 'admin', 'wrong-password')).status).toBe(401) // 3 in Redis
    expect((await login(t, 'admin', ADMIN_PASSWORD)).status).toBe(429)
  })
})
