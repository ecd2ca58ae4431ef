import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/** Bookmarks: a named time range on a camera's recording, kept to who may play the camera back. */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let globex: Awaited<ReturnType<typeof createTenantWithAdmin>>
let operator: { id: string; token: string }
let operator2: { id: string; token: string }
let viewer: { id: string; token: string }
let northOnly: { id: string; token: string }
let north: string
let south: string
let camNorth: string
let camSouth: string

const at = (minute: number) => new Date(Date.UTC(2026, 10, 28, 10, minute)).toISOString()

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme-bookmarks')
  globex = await createTenantWithAdmin(t, 'globex-bookmarks')
  const token = acme.token
  north = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'North' } })).body.id
  south = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'South' } })).body.id
  camNorth = (await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Gate', siteId: north } }))
    .body.id
  camSouth = (await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Dock', siteId: south } }))
    .body.id
  expect(camNorth).toBeTruthy()
  expect(camSouth).toBeTruthy()
  operator = await userWithRole(t, 'acme-bookmarks', token, 'op-1', 'operator', { type: 'tenant' })
  operator2 = await userWithRole(t, 'acme-bookmarks', token, 'op-2', 'operator', { type: 'tenant' })
  viewer = await userWithRole(t, 'acme-bookmarks', token, 'watcher', 'viewer', { type: 'tenant' })
  northOnly = await userWithRole(t, 'acme-bookmarks', token, 'op-north', 'operator', {
    type: 'site',
    id: north,
  })
})
afterAll(async () => {
  await t?.close()
})

describe('bookmarks', () => {
  it('round trip: create (cleaned, audited), list overlapping, get, delete (audited)', async () => {
    const made = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: {
        cameraId: camNorth,
        from: at(0),
        to: at(1),
        title: '  Van\tat the gate\u0007 ',
        note: 'Blue van,\nno plates',
      },
    })
    expect(made.status, made.text).toBe(201)
    expect(made.body).toMatchObject({
      cameraId: camNorth,
      siteId: north,
      tenantId: acme.tenantId,
      from: at(0),
      to: at(1),
      title: 'Van at the gate',
      note: 'Blue van,\nno plates',
      createdBy: operator.id,
    })
    const audit = await t.request('GET', '/api/v1/audit?action=bookmark.create&limit=1', {
      token: acme.token,
    })
    expect(audit.status, audit.text).toBe(200)
    expect(audit.body.items[0]).toMatchObject({
      action: 'bookmark.create',
      target: { type: 'bookmark', id: made.body.id },
      details: { cameraId: camNorth, title: 'Van at the gate' },
    })

    const other = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: { cameraId: camSouth, from: at(30), to: at(30), title: 'Dock' },
    })
    expect(other.status, other.text).toBe(201)
    expect(other.body.note).toBeNull()

    const list = async (q: string, token = operator.token) => {
      const res = await t.request('GET', `/api/v1/bookmarks${q}`, { token })
      expect(res.status, res.text).toBe(200)
      return res.body as { items: { id: string; title: string }[]; total: number }
    }
    expect((await list('')).items.map((b) => b.title)).toEqual(['Van at the gate', 'Dock'])
    expect((await list(`?cameraId=${camNorth}`)).items.map((b) => b.id)).toEqual([made.body.id])
    // Overlapping the range: one that ends at 10:01 overlaps [10:00:30, 10:10].
    const range = `?from=${encodeURIComponent('2026-11-28T10:00:30Z')}&to=${encodeURIComponent(at(10))}`
    expect((await list(range)).items.map((b) => b.id)).toEqual([made.body.id])
    expect((await list(`?from=${encodeURIComponent(at(2))}&to=${encodeURIComponent(at(29))}`)).total).toBe(0)
    expect(await list('?limit=1&offset=1')).toMatchObject({ total: 2, items: [{ title: 'Dock' }] })

    const got = await t.request('GET', `/api/v1/bookmarks/${made.body.id}`, { token: operator.token })
    expect(got.status).toBe(200)
    expect(got.body).toEqual(made.body)

    expect(
      (await t.request('DELETE', `/api/v1/bookmarks/${made.body.id}`, { token: operator.token })).status,
    ).toBe(204)
    const deleted = await t.request('GET', '/api/v1/audit?action=bookmark.delete&limit=1', {
      token: acme.token,
    })
    expect(deleted.body.items[0]).toMatchObject({
      action: 'bookmark.delete',
      target: { type: 'bookmark', id: made.body.id },
      actor: { id: operator.id },
    })
    expect(
      (await t.request('GET', `/api/v1/bookmarks/${made.body.id}`, { token: operator.token })).status,
    ).toBe(404)
    expect(
      (await t.request('DELETE', `/api/v1/bookmarks/${made.body.id}`, { token: operator.token })).status,
    ).toBe(404)
  })

  it('needs camera.playback: a viewer is refused and sees none; scope limits what is seen', async () => {
    const mark = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: { cameraId: camSouth, from: at(40), to: at(41), title: 'South only' },
    })
    expect(mark.status).toBe(201)
    const refused = await t.request('POST', '/api/v1/bookmarks', {
      token: viewer.token,
      body: { cameraId: camNorth, from: at(0), to: at(1), title: 'Nope' },
    })
    expect(refused.status).toBe(403)
    const seen = await t.request('GET', '/api/v1/bookmarks', { token: viewer.token })
    expect(seen.body).toEqual({ items: [], total: 0 })
    expect(
      (await t.request('GET', `/api/v1/bookmarks/${mark.body.id}`, { token: viewer.token })).status,
    ).toBe(404)
    expect(
      (await t.request('DELETE', `/api/v1/bookmarks/${mark.body.id}`, { token: viewer.token })).status,
    ).toBe(404)

    // An operator of the North site alone: South's camera and its bookmarks do not exist for them.
    const northList = await t.request('GET', '/api/v1/bookmarks', { token: northOnly.token })
    expect(northList.body.items.map((b: { id: string }) => b.id)).not.toContain(mark.body.id)
    expect(
      (await t.request('GET', `/api/v1/bookmarks/${mark.body.id}`, { token: northOnly.token })).status,
    ).toBe(404)
    const south = await t.request('POST', '/api/v1/bookmarks', {
      token: northOnly.token,
      body: { cameraId: camSouth, from: at(0), to: at(1), title: 'x' },
    })
    expect(south.status).toBe(404)
    const unknown = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: { cameraId: randomUUID(), from: at(0), to: at(1), title: 'x' },
    })
    expect(unknown.status).toBe(404)
    expect((await t.request('GET', '/api/v1/bookmarks')).status).toBe(401)
  })

  it('deletes only for the creator or a camera manager', async () => {
    const mark = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: { cameraId: camNorth, from: at(50), to: at(51), title: 'Mine' },
    })
    expect(mark.status).toBe(201)
    const notMine = await t.request('DELETE', `/api/v1/bookmarks/${mark.body.id}`, { token: operator2.token })
    expect(notMine.status).toBe(403)
    // The tenant admin holds camera.manage.
    expect(
      (await t.request('DELETE', `/api/v1/bookmarks/${mark.body.id}`, { token: acme.token })).status,
    ).toBe(204)
  })

  it("keeps tenants apart: another tenant's bookmark is 404", async () => {
    const mark = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: { cameraId: camNorth, from: at(5), to: at(6), title: 'Acme only' },
    })
    expect(mark.status).toBe(201)
    expect(
      (await t.request('GET', `/api/v1/bookmarks/${mark.body.id}`, { token: globex.token })).status,
    ).toBe(404)
    expect(
      (await t.request('DELETE', `/api/v1/bookmarks/${mark.body.id}`, { token: globex.token })).status,
    ).toBe(404)
    expect((await t.request('GET', '/api/v1/bookmarks', { token: globex.token })).body.total).toBe(0)
    const onTheirs = await t.request('POST', '/api/v1/bookmarks', {
      token: globex.token,
      body: { cameraId: camNorth, from: at(0), to: at(1), title: 'x' },
    })
    expect(onTheirs.status).toBe(404)
  })

  it('refuses bad and hostile input with 400, never 500', async () => {
    const base = { cameraId: camNorth, from: at(0), to: at(1), title: 'ok' }
    const bad: unknown[] = [
      { ...base, title: '' },
      { ...base, title: '   ' },
      { ...base, title: '\u0007\u0008' },
      { ...base, title: 'a'.repeat(201) },
      { ...base, title: 'x'.repeat(500_000) },
      { ...base, note: '\u0007'.repeat(100_000) },
      { ...base, title: 'nul\u0000title' },
      { ...base, note: 'a'.repeat(4001) },
      { ...base, note: 'nul\u0000' },
      { ...base, from: at(1), to: at(0) },
      { ...base, from: at(0), to: new Date(Date.parse(at(0)) + 24 * 3_600_000 + 1000).toISOString() },
      { ...base, from: 'yesterday' },
      { ...base, cameraId: 'not-a-uuid' },
      { ...base, extra: 1 },
      { ...base, title: 42 },
    ]
    for (const body of bad) {
      const res = await t.request('POST', '/api/v1/bookmarks', { token: operator.token, body })
      expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400)
    }
    for (const raw of [
      `{"cameraId":"${camNorth}","from":"${at(0)}","to":"${at(1)}","title":"lone \\ud800 surrogate"}`,
      `{"cameraId":"${camNorth}","from":"${at(0)}","to":"${at(1)}","title":"ok","note":"\\udc00"}`,
    ]) {
      const res = await t.request('POST', '/api/v1/bookmarks', { token: operator.token, rawBody: raw })
      expect(res.status, raw).toBe(400)
    }
    for (const q of ['?cameraId=nope', '?from=never', '?limit=0', '?title=%00']) {
      const res = await t.request('GET', `/api/v1/bookmarks${q}`, { token: operator.token })
      expect(res.status, q).toBe(400)
    }
    // Beyond the body limit: refused at the door.
    const huge = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: { ...base, note: 'x'.repeat(2_000_000) },
    })
    expect(huge.status).toBe(413)
    // Exactly 24 hours and a zero-length mark are fine.
    const day = await t.request('POST', '/api/v1/bookmarks', {
      token: operator.token,
      body: {
        ...base,
        to: new Date(Date.parse(at(0)) + 24 * 3_600_000).toISOString(),
        title: 'a'.repeat(200),
      },
    })
    expect(day.status, day.text).toBe(201)
  })
})
