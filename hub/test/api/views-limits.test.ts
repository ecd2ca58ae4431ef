import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Saved live views, beyond the round trip (views.test.ts): the per-user cap, changes validated
 * like creations, and tenants kept apart by row-level security as well as by the owner check.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let beta: Awaited<ReturnType<typeof createTenantWithAdmin>>
let viewer: { id: string; token: string }
const cam = randomUUID()

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme-views-limits')
  beta = await createTenantWithAdmin(t, 'beta-views-limits')
  viewer = await userWithRole(t, 'acme-views-limits', acme.token, 'desk', 'viewer', { type: 'tenant' })
})
afterAll(async () => {
  await t?.close()
})

describe('saved views: bounds and isolation', () => {
  it('keeps at most 100 views per user (409 too_many_views), and makes room again after a delete', async () => {
    const token = acme.token
    let last = ''
    for (let i = 0; i < 100; i++) {
      const res = await t.request('POST', '/api/v1/views', {
        token,
        body: { name: `View ${String(i).padStart(3, '0')}`, layout: '1' },
      })
      expect(res.status, res.text).toBe(201)
      last = res.body.id
    }
    const over = await t.request('POST', '/api/v1/views', { token, body: { name: 'One more', layout: '1' } })
    expect(over.status).toBe(409)
    expect(over.body.error.code).toBe('too_many_views')
    expect(over.body.error.message).toMatch(/100 views/)
    expect(over.body.error.requestId).toBeTruthy()
    // The cap is per user: someone else of the tenant still saves theirs.
    expect(
      (await t.request('POST', '/api/v1/views', { token: viewer.token, body: { name: 'Mine', layout: '1' } }))
        .status,
    ).toBe(201)
    expect((await t.request('DELETE', `/api/v1/views/${last}`, { token })).status).toBe(204)
    expect(
      (await t.request('POST', '/api/v1/views', { token, body: { name: 'One more', layout: '1' } })).status,
    ).toBe(201)
    const list = await t.request('GET', '/api/v1/views', { token })
    expect(list.body.views).toHaveLength(100)
  })

  it('validates a change like a creation', async () => {
    const token = viewer.token
    const made = await t.request('POST', '/api/v1/views', {
      token,
      body: { name: 'Tills', layout: '2x2', cameraIds: [cam, null, cam] },
    })
    expect(made.status).toBe(201)
    const path = `/api/v1/views/${made.body.id}`
    const bad: [unknown, string?][] = [
      [{ layout: '5x5' }],
      [{ name: '  ' }],
      [{ name: 'b'.repeat(101) }],
      [{ cameraIds: Array(5).fill(cam) }, 'too_many_tiles'],
      [{ cameraIds: [123] }],
      [{ userId: randomUUID() }],
      [{ name: 'x\u0000y' }, 'invalid_characters'],
    ]
    for (const [body, code] of bad) {
      const res = await t.request('PATCH', path, { token, body })
      expect(res.status, JSON.stringify(body)).toBe(400)
      if (code) expect(res.body.error.code).toBe(code)
    }
    const lone = await t.request('PATCH', path, {
      token,
      rawBody: '{"name":"\\udc00"}',
      headers: { 'content-type': 'application/json' },
    })
    expect(lone.status).toBe(400)
    // An id that cannot exist names nothing (404), as everywhere in the API.
    for (const id of ['not-a-uuid', randomUUID()])
      expect((await t.request('PATCH', `/api/v1/views/${id}`, { token, body: { name: 'x' } })).status).toBe(
        404,
      )
    // Nothing changed; a larger layout keeps every camera, and an empty change is no change.
    const bigger = await t.request('PATCH', path, { token, body: { layout: '3x3' } })
    expect(bigger.body).toMatchObject({ name: 'Tills', layout: '3x3', cameraIds: [cam, null, cam] })
    const same = await t.request('PATCH', path, { token, body: {} })
    expect(same.status).toBe(200)
    expect(same.body).toMatchObject({ name: 'Tills', layout: '3x3', cameraIds: [cam, null, cam] })
    // Renaming a view to its own name in another case is no conflict.
    expect((await t.request('PATCH', path, { token, body: { name: 'TILLS' } })).body.name).toBe('TILLS')
  })

  it("keeps tenants apart: another tenant's user, admin or not, finds nothing, and RLS agrees", async () => {
    const mine = await t.request('POST', '/api/v1/views', {
      token: viewer.token,
      body: { name: 'Entrance', layout: '1', cameraIds: [cam] },
    })
    expect(mine.status).toBe(201)
    // Another tenant's admin (and the system admin, who may act across tenants elsewhere) sees only
    // their own views.
    const sys = await t.adminToken()
    for (const token of [beta.token, sys]) {
      const list = await t.request('GET', '/api/v1/views', { token })
      expect(list.body.views.map((v: { id: string }) => v.id)).not.toContain(mine.body.id)
      for (const [method, body] of [
        ['PATCH', { name: 'Taken' }],
        ['DELETE', undefined],
      ] as const)
        expect((await t.request(method, `/api/v1/views/${mine.body.id}`, { token, body })).status).toBe(404)
    }
    // The database itself hides the row from a transaction scoped to another tenant.
    const rows = await t.hub.context.db.withTenant({ tenantId: beta.tenantId }, (tx) =>
      tx.execute('select id from saved_views where id = ?', [mine.body.id]),
    )
    expect(rows).toEqual([])
    const own = await t.hub.context.db.withTenant({ tenantId: acme.tenantId }, (tx) =>
      tx.execute('select id from saved_views where id = ?', [mine.body.id]),
    )
    expect(own).toHaveLength(1)
  })
})
