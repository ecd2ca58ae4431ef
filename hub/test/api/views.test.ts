import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/** Saved live views: per user, validated, invisible to everyone else. */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let viewer: { id: string; token: string }
let other: { id: string; token: string }
const cam = randomUUID()

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme-views')
  viewer = await userWithRole(t, 'acme-views', acme.token, 'desk-1', 'viewer', { type: 'tenant' })
  other = await userWithRole(t, 'acme-views', acme.token, 'desk-2', 'viewer', { type: 'tenant' })
})
afterAll(async () => {
  await t?.close()
})

describe('saved views', () => {
  it('round trip: create, list by name, change, delete', async () => {
    const token = viewer.token
    const made = await t.request('POST', '/api/v1/views', {
      token,
      body: { name: '  Tills ', layout: '2x2', cameraIds: [cam, null] },
    })
    expect(made.status).toBe(201)
    expect(made.body).toMatchObject({ name: 'Tills', layout: '2x2', cameraIds: [cam, null] })
    await t.request('POST', '/api/v1/views', { token, body: { name: 'Aisles', layout: '1' } })
    const list = await t.request('GET', '/api/v1/views', { token })
    expect(list.body.views.map((v: { name: string }) => v.name)).toEqual(['Aisles', 'Tills'])

    const changed = await t.request('PATCH', `/api/v1/views/${made.body.id}`, {
      token,
      body: { layout: '1' },
    })
    expect(changed.status).toBe(200)
    // A smaller layout keeps the cameras that still fit.
    expect(changed.body).toMatchObject({ name: 'Tills', layout: '1', cameraIds: [cam] })
    expect((await t.request('DELETE', `/api/v1/views/${made.body.id}`, { token })).status).toBe(204)
    expect((await t.request('DELETE', `/api/v1/views/${made.body.id}`, { token })).status).toBe(404)
  })

  it("keeps views to their owner: another user's view does not exist for them", async () => {
    const mine = await t.request('POST', '/api/v1/views', {
      token: viewer.token,
      body: { name: 'Private', layout: '1', cameraIds: [cam] },
    })
    expect((await t.request('GET', '/api/v1/views', { token: other.token })).body.views).toEqual([])
    for (const [method, body] of [
      ['PATCH', { name: 'Stolen' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await t.request(method, `/api/v1/views/${mine.body.id}`, { token: other.token, body })
      expect(res.status).toBe(404)
    }
    // The tenant's admin neither sees nor changes it.
    expect(
      (await t.request('PATCH', `/api/v1/views/${mine.body.id}`, { token: acme.token, body: { name: 'x' } }))
        .status,
    ).toBe(404)
    expect((await t.request('GET', '/api/v1/views')).status).toBe(401)
  })

  it('refuses bad input with a clear 4xx', async () => {
    const token = viewer.token
    const bad: [unknown, number, string?][] = [
      [{ name: 'x', layout: '5x5' }, 400],
      [{ name: 'x', layout: '1', cameraIds: [cam, cam] }, 400, 'too_many_tiles'],
      [{ name: 'x', layout: '4x4', cameraIds: Array(17).fill(null) }, 400],
      [{ name: 'x', layout: '1', cameraIds: ['not-a-uuid'] }, 400],
      [{ name: '', layout: '1' }, 400],
      [{ name: '   ', layout: '1' }, 400],
      [{ name: 'a'.repeat(101), layout: '1' }, 400],
      [{ name: 'nul\u0000name', layout: '1' }, 400],
      [{ name: 'x', layout: '1', owner: randomUUID() }, 400],
    ]
    for (const [body, status, code] of bad) {
      const res = await t.request('POST', '/api/v1/views', { token, body })
      expect(res.status, JSON.stringify(body)).toBe(status)
      if (code) expect(res.body.error.code).toBe(code)
    }
    const lone = await t.request('POST', '/api/v1/views', {
      token,
      rawBody: '{"name":"lone \\ud800 surrogate","layout":"1"}',
      headers: { 'content-type': 'application/json' },
    })
    expect(lone.status).toBe(400)
  })

  it('refuses a second view of the same name, in any letter case', async () => {
    const token = other.token
    expect(
      (await t.request('POST', '/api/v1/views', { token, body: { name: 'Front', layout: '1' } })).status,
    ).toBe(201)
    const again = await t.request('POST', '/api/v1/views', { token, body: { name: 'FRONT', layout: '2x2' } })
    expect(again.status).toBe(409)
    expect(again.body.error.message).toMatch(/already have a view named/)
    const back = await t.request('POST', '/api/v1/views', { token, body: { name: 'Back', layout: '1' } })
    const rename = await t.request('PATCH', `/api/v1/views/${back.body.id}`, {
      token,
      body: { name: 'front' },
    })
    expect(rename.status).toBe(409)
  })

  it("goes with its user: deleting the user deletes the user's views", async () => {
    const gone = await userWithRole(t, 'acme-views', acme.token, 'leaver', 'viewer', { type: 'tenant' })
    await t.request('POST', '/api/v1/views', { token: gone.token, body: { name: 'Mine', layout: '1' } })
    expect((await t.request('DELETE', `/api/v1/users/${gone.id}`, { token: acme.token })).status).toBe(204)
    const [row] = await t.hub.context.db.withSystem((tx) =>
      tx.execute('select count(*)::int as n from saved_views where user_id = ?', [gone.id]),
    )
    expect(row?.n).toBe(0)
  })
})
