import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_PASSWORD, startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

let t: TestHub
let token: string

beforeAll(async () => {
  t = await startTestHub({ VMS_METRICS_TOKEN: 'metrics-token-for-tests-0123456789' })
  token = await t.adminToken()
})
afterAll(async () => {
  await t?.close()
})

describe('errors', () => {
  it('answers 400 with the error shape for malformed JSON and wrong types', async () => {
    const malformed = await t.request('POST', '/api/v1/sites', { token, rawBody: '{"name": "x",' })
    expect(malformed.status).toBe(400)
    expect(malformed.body).toEqual({
      error: { code: 'malformed_json', message: expect.any(String), requestId: expect.any(String) },
    })
    for (const body of [
      { name: 42 },
      { name: '' },
      { name: 'x'.repeat(201) },
      { name: 'ok', extra: true },
      [],
      'text',
      null,
    ]) {
      const res = await t.request('POST', '/api/v1/sites', { token, rawBody: JSON.stringify(body) })
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(typeof res.body.error.code).toBe('string')
      expect(typeof res.body.error.message).toBe('string')
    }
    const wrongType = await t.request('POST', '/api/v1/sites', { token, body: { name: 42 } })
    expect(wrongType.body.error.details).toEqual([expect.objectContaining({ path: 'name' })])
    const badQuery = await t.request('GET', '/api/v1/sites?limit=100000', { token })
    expect(badQuery.status).toBe(400)
    const badQuery2 = await t.request('GET', '/api/v1/sites?offset=-1', { token })
    expect(badQuery2.status).toBe(400)
  })

  it('answers 415 for a body that is not JSON and 413 for one too large', async () => {
    const form = await t.request('POST', '/api/v1/sites', {
      token,
      rawBody: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(form.status).toBe(415)
    const big = await t.request('POST', '/api/v1/sites', {
      token,
      rawBody: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
    })
    expect(big.status).toBe(413)
  })

  it('answers 404 for unknown endpoints and ids that are not UUIDs, 405 for wrong methods', async () => {
    expect((await t.request('GET', '/api/v1/nothing-here', { token })).body.error.code).toBe('not_found')
    expect((await t.request('GET', '/api/v1/sites/not-a-uuid', { token })).status).toBe(404)
    expect(
      (await t.request('GET', '/api/v1/sites/00000000-0000-4000-8000-000000000000', { token })).status,
    ).toBe(404)
    const put = await t.request('PUT', '/api/v1/sites', { token, body: {} })
    expect(put.status).toBe(405)
    expect(put.body.error.code).toBe('method_not_allowed')
  })

  it('never answers 500 to a barrage of odd requests', async () => {
    const odd: [string, string, string | undefined][] = [
      ['POST', '/api/v1/auth/login', '{"tenant":"\\u0000","username":"a","password":"b"}'],
      [
        'POST',
        '/api/v1/auth/login',
        '{"tenant":"system","username":"admin","password":"' + 'x'.repeat(5000) + '"}',
      ],
      ['POST', '/api/v1/auth/refresh', '{"refreshToken":"' + 'A'.repeat(600) + '"}'],
      ['POST', '/api/v1/auth/password-reset/confirm', '{"token":"%%%","password":"p"}'],
      ['POST', '/api/v1/users', '{"username":"bad name with spaces","password":"Xq7#vL2m!pR9zT"}'],
      ['POST', '/api/v1/users', '{"username":"ok","password":"Xq7#vL2m!pR9zT","email":"not-an-email"}'],
      ['POST', '/api/v1/tenants', '{"slug":"UPPER","name":"x"}'],
      ['POST', '/api/v1/tenants', '{"slug":"-dash","name":"x"}'],
      ['POST', '/api/v1/cameras', '{"name":"x","siteId":"not-a-uuid"}'],
      ['PATCH', '/api/v1/users/00000000-0000-4000-8000-000000000000', '{"disabled":"yes"}'],
      ['GET', '/api/v1/users?tenantId=zzz', undefined],
      ['GET', '/api/v1/sites?limit=abc', undefined],
      ['DELETE', '/api/v1/users/00000000-0000-4000-8000-000000000000/role-bindings/abc', undefined],
    ]
    for (const [method, path, rawBody] of odd) {
      const res = await t.request(method, path, { token, ...(rawBody !== undefined ? { rawBody } : {}) })
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400)
      expect(res.status, `${method} ${path}`).toBeLessThan(500)
    }
  })

  it('sets protective headers on every answer', async () => {
    const res = await t.request('GET', '/api/v1/me', { token })
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('operational endpoints', () => {
  it('serves health and readiness anonymously', async () => {
    expect((await t.request('GET', '/healthz')).body).toEqual({ status: 'ok' })
    const ready = await t.request('GET', '/readyz')
    expect(ready.status).toBe(200)
    expect(ready.body.checks.database).toBe('ok')
  })

  it('guards metrics with the metrics token or a system-admin', async () => {
    expect((await t.request('GET', '/metrics')).status).toBe(401)
    const user = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'plain', password: USER_PASSWORD },
    })
    expect(user.status).toBe(201)
    const plain = (await t.login('system', 'plain', USER_PASSWORD)).accessToken
    expect((await t.request('GET', '/metrics', { token: plain })).status).toBe(403)
    expect((await t.request('GET', '/metrics', { token: 'wrong-token-wrong-token' })).status).toBe(401)
    const scraped = await t.request('GET', '/metrics', { token: 'metrics-token-for-tests-0123456789' })
    expect(scraped.status).toBe(200)
    expect(scraped.text).toMatch(/vms_http_requests_total\{[^}]*route="\/api\/v1\/me"/)
    expect(scraped.text).toMatch(/vms_auth_logins_total\{[^}]*outcome="success"/)
    expect((await t.request('GET', '/metrics', { token })).status).toBe(200)
  })

  it('publishes an OpenAPI 3.1 document of every API route to authenticated callers', async () => {
    expect((await t.request('GET', '/api/v1/openapi.json')).status).toBe(401)
    const res = await t.request('GET', '/api/v1/openapi.json', { token })
    expect(res.status).toBe(200)
    const doc = res.body
    expect(doc.openapi).toBe('3.1.0')
    const expected: [string, string[]][] = [
      ['/api/v1/auth/login', ['post']],
      ['/api/v1/auth/refresh', ['post']],
      ['/api/v1/auth/logout', ['post']],
      ['/api/v1/auth/password-reset', ['post']],
      ['/api/v1/auth/password-reset/confirm', ['post']],
      ['/api/v1/me', ['get']],
      ['/api/v1/tenants', ['get', 'post']],
      ['/api/v1/tenants/{id}', ['get', 'patch', 'delete']],
      ['/api/v1/sites', ['get', 'post']],
      ['/api/v1/sites/{id}', ['get', 'patch', 'delete']],
      ['/api/v1/cameras', ['get', 'post']],
      ['/api/v1/cameras/{id}', ['get', 'patch', 'delete']],
      ['/api/v1/users', ['get', 'post']],
      ['/api/v1/users/{id}', ['get', 'patch', 'delete']],
      ['/api/v1/roles', ['get', 'post']],
      ['/api/v1/roles/{id}', ['get', 'patch', 'delete']],
      ['/api/v1/users/{id}/role-bindings', ['get', 'post']],
      ['/api/v1/users/{id}/role-bindings/{bindingId}', ['delete']],
    ]
    for (const [path, methods] of expected) {
      expect(Object.keys(doc.paths[path] ?? {}).sort(), path).toEqual([...methods].sort())
    }
    const login = doc.paths['/api/v1/auth/login'].post
    expect(login.requestBody.content['application/json'].schema.required.sort()).toEqual([
      'password',
      'tenant',
      'username',
    ])
    const ref = login.responses['200'].content['application/json'].schema.$ref as string
    expect(ref).toBe('#/components/schemas/TokenResponse')
    expect(doc.components.schemas.TokenResponse.properties.tokenType).toEqual({
      type: 'string',
      const: 'Bearer',
    })
    expect(doc.components.schemas.Error.properties.error.required).toEqual(['code', 'message'])
    expect(
      doc.paths['/api/v1/users'].post.requestBody.content['application/json'].schema.additionalProperties,
    ).toBe(false)
    expect(doc.paths['/api/v1/sites/{id}'].get.parameters[0]).toMatchObject({
      name: 'id',
      in: 'path',
      required: true,
    })
    expect(doc.paths['/api/v1/sites'].get.security).toEqual([{ bearerAuth: [] }])
  })
})

describe('logs', () => {
  it('never contain passwords, tokens or hashes', async () => {
    const session = await t.login('system', 'admin', ADMIN_PASSWORD)
    await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.refreshToken } })
    await t.request('POST', '/api/v1/auth/login', {
      body: { tenant: 'system', username: 'admin', password: 'Wrong-But-Secret-99' },
    })
    await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'logcheck', password: 'Log-Check-Secret-Phrase-1' },
    })
    const text = t.logs.text()
    for (const secret of [
      ADMIN_PASSWORD,
      'Wrong-But-Secret-99',
      'Log-Check-Secret-Phrase-1',
      session.accessToken.split('.')[2] ?? '',
      session.refreshToken.split('.')[1] ?? '',
      t.config.VMS_MASTER_KEY ?? '',
    ]) {
      expect(secret.length).toBeGreaterThan(10)
      expect(text).not.toContain(secret)
    }
    expect(text).not.toMatch(/\$argon2id\$/)
    // ... yet they do record the security events.
    expect(
      t.logs
        .entries()
        .some((e) => e.audit && e.action === 'auth.login.failure' && e.reason === 'bad_password'),
    ).toBe(true)
    expect(t.logs.entries().some((e) => e.audit && e.action === 'user.create')).toBe(true)
  })
})
