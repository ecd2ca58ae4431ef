import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

/**
 * Cross-tenant isolation through every endpoint: another tenant's resources do not exist for you
 * (404), whether you read, change, delete, list, or point at them from your own resources.
 */
let t: TestHub
let a: Awaited<ReturnType<typeof createTenantWithAdmin>>
let b: Awaited<ReturnType<typeof createTenantWithAdmin>>
const A: Record<string, string> = {}
const B: Record<string, string> = {}

beforeAll(async () => {
  t = await startTestHub()
  a = await createTenantWithAdmin(t, 'alpha')
  b = await createTenantWithAdmin(t, 'bravo')
  for (const [side, ids] of [
    [a, A],
    [b, B],
  ] as const) {
    const token = side.token
    ids.site = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'HQ' } })).body.id
    ids.camera = (
      await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Door', siteId: ids.site } })
    ).body.id
    ids.user = (
      await t.request('POST', '/api/v1/users', {
        token,
        body: { username: 'guard', password: USER_PASSWORD },
      })
    ).body.id
    ids.role = (
      await t.request('POST', '/api/v1/roles', {
        token,
        body: { name: 'night-watch', permissions: ['camera.live'] },
      })
    ).body.id
    ids.binding = (
      await t.request('POST', `/api/v1/users/${ids.user}/role-bindings`, {
        token,
        body: { role: 'night-watch', scope: { type: 'site', id: ids.site } },
      })
    ).body.id
    for (const [k, v] of Object.entries(ids)) if (!v) throw new Error(`setup of ${k} failed`)
  }
})
afterAll(async () => {
  await t?.close()
})

describe("another tenant's resources", () => {
  it('are 404 to read, change and delete', async () => {
    const token = b.token
    const calls: [string, string, unknown?][] = [
      ['GET', `/api/v1/tenants/${a.tenantId}`],
      ['PATCH', `/api/v1/tenants/${a.tenantId}`, { name: 'pwned' }],
      ['DELETE', `/api/v1/tenants/${a.tenantId}`],
      ['GET', `/api/v1/sites/${A.site}`],
      ['PATCH', `/api/v1/sites/${A.site}`, { name: 'pwned' }],
      ['DELETE', `/api/v1/sites/${A.site}`],
      ['GET', `/api/v1/cameras/${A.camera}`],
      ['PATCH', `/api/v1/cameras/${A.camera}`, { name: 'pwned' }],
      ['DELETE', `/api/v1/cameras/${A.camera}`],
      ['GET', `/api/v1/users/${A.user}`],
      ['PATCH', `/api/v1/users/${A.user}`, { disabled: true }],
      ['DELETE', `/api/v1/users/${A.user}`],
      ['GET', `/api/v1/roles/${A.role}`],
      ['PATCH', `/api/v1/roles/${A.role}`, { permissions: ['camera.live', 'camera.export'] }],
      ['DELETE', `/api/v1/roles/${A.role}`],
      ['GET', `/api/v1/users/${A.user}/role-bindings`],
      ['POST', `/api/v1/users/${A.user}/role-bindings`, { role: 'viewer', scope: { type: 'tenant' } }],
      ['DELETE', `/api/v1/users/${A.user}/role-bindings/${A.binding}`],
    ]
    for (const [method, path, body] of calls) {
      const res = await t.request(method, path, { token, ...(body ? { body } : {}) })
      expect(res.status, `${method} ${path}`).toBe(404)
      expect(res.body.error.code).toBe('not_found')
    }
  })

  it('are 404 when named from your own resources', async () => {
    const token = b.token
    const calls: [string, string, unknown][] = [
      ['POST', '/api/v1/sites', { name: 'Sneaky', tenantId: a.tenantId }],
      ['POST', '/api/v1/users', { username: 'sneaky', password: USER_PASSWORD, tenantId: a.tenantId }],
      ['POST', '/api/v1/roles', { name: 'sneaky', permissions: [], tenantId: a.tenantId }],
      ['POST', '/api/v1/cameras', { name: 'Sneaky', siteId: A.site }],
      ['PATCH', `/api/v1/cameras/${B.camera}`, { siteId: A.site }],
      ['POST', `/api/v1/users/${B.user}/role-bindings`, { role: A.role, scope: { type: 'tenant' } }],
      [
        'POST',
        `/api/v1/users/${B.user}/role-bindings`,
        { role: 'viewer', scope: { type: 'site', id: A.site } },
      ],
      [
        'POST',
        `/api/v1/users/${B.user}/role-bindings`,
        { role: 'viewer', scope: { type: 'camera', id: A.camera } },
      ],
      ['DELETE', `/api/v1/users/${B.user}/role-bindings/${A.binding}`, undefined],
    ]
    for (const [method, path, body] of calls) {
      const res = await t.request(method, path, { token, ...(body ? { body } : {}) })
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(404)
    }
  })

  it('never appear in lists, even when asked for by tenant id', async () => {
    const token = b.token
    for (const path of [
      '/api/v1/tenants',
      '/api/v1/sites',
      '/api/v1/cameras',
      '/api/v1/users',
      '/api/v1/roles',
    ]) {
      for (const query of ['', `?tenantId=${a.tenantId}`]) {
        const res = await t.request('GET', path + query, { token })
        expect(res.status, path + query).toBe(200)
        const text = JSON.stringify(res.body)
        for (const id of [a.tenantId, ...Object.values(A)])
          expect(text, `${path}${query} leaks ${id}`).not.toContain(id)
        if (path === '/api/v1/roles')
          expect(res.body.items.every((r: any) => r.tenantId === null || r.tenantId === b.tenantId)).toBe(
            true,
          )
      }
    }
    const tenants = await t.request('GET', '/api/v1/tenants', { token })
    expect(tenants.body.items.map((x: any) => x.slug)).toEqual(['bravo'])
  })

  it('are left untouched by all of the above', async () => {
    const token = a.token
    expect((await t.request('GET', `/api/v1/tenants/${a.tenantId}`, { token })).body.name).toBe(
      'Tenant alpha',
    )
    expect((await t.request('GET', `/api/v1/sites/${A.site}`, { token })).body.name).toBe('HQ')
    expect((await t.request('GET', `/api/v1/cameras/${A.camera}`, { token })).body).toMatchObject({
      name: 'Door',
      siteId: A.site,
    })
    expect((await t.request('GET', `/api/v1/users/${A.user}`, { token })).body.disabled).toBe(false)
    expect((await t.request('GET', `/api/v1/roles/${A.role}`, { token })).body.permissions).toEqual([
      'camera.live',
    ])
    const bindings = await t.request('GET', `/api/v1/users/${A.user}/role-bindings`, { token })
    expect(bindings.body.items.map((x: any) => x.id)).toEqual([A.binding])
    const users = await t.request('GET', '/api/v1/users', { token })
    expect(users.body.items.map((u: any) => u.username).sort()).toEqual(['alpha-admin', 'guard'])
  })

  it('are all visible to a system administrator', async () => {
    const token = await t.adminToken()
    const sites = await t.request('GET', '/api/v1/sites', { token })
    expect(sites.body.items.map((s: any) => s.id)).toEqual(expect.arrayContaining([A.site, B.site]))
    const onlyA = await t.request('GET', `/api/v1/sites?tenantId=${a.tenantId}`, { token })
    expect(onlyA.body.items.map((s: any) => s.id)).toEqual([A.site])
    expect((await t.request('GET', `/api/v1/cameras/${B.camera}`, { token })).status).toBe(200)
  })
})
