import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from '../helpers/test-hub.ts'

let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
const ids: Record<string, string> = {}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  const token = acme.token
  for (const name of ['North', 'South']) {
    ids[name] = (await t.request('POST', '/api/v1/sites', { token, body: { name } })).body.id
    for (const cam of ['Door', 'Till']) {
      ids[`${name}-${cam}`] = (
        await t.request('POST', '/api/v1/cameras', { token, body: { name: cam, siteId: ids[name] } })
      ).body.id
    }
  }
})
afterAll(async () => {
  await t?.close()
})

async function userWith(username: string, role: string, scope: { type: string; id?: string }) {
  return userWithRole(t, 'acme', acme.token, username, role, scope)
}

const names = (res: { body: { items: { name: string }[] } }) => res.body.items.map((x) => x.name).sort()

describe('scoped role bindings', () => {
  it('a site-manager of one site sees and manages only that site and its cameras', async () => {
    const { token } = await userWith('north-manager', 'site-manager', { type: 'site', id: ids.North })
    expect(names(await t.request('GET', '/api/v1/sites', { token }))).toEqual(['North'])
    const cams = await t.request('GET', '/api/v1/cameras', { token })
    expect(cams.body.items.map((c: any) => c.siteId)).toEqual([ids.North, ids.North])
    expect(cams.body.total).toBe(2)
    expect(
      (await t.request('PATCH', `/api/v1/sites/${ids.North}`, { token, body: { name: 'North' } })).status,
    ).toBe(200)
    expect((await t.request('GET', `/api/v1/sites/${ids.South}`, { token })).status).toBe(404)
    expect(
      (await t.request('PATCH', `/api/v1/cameras/${ids['South-Door']}`, { token, body: { name: 'x' } }))
        .status,
    ).toBe(404)
    const added = await t.request('POST', '/api/v1/cameras', {
      token,
      body: { name: 'Back', siteId: ids.North },
    })
    expect(added.status).toBe(201)
    expect((await t.request('DELETE', `/api/v1/cameras/${added.body.id}`, { token })).status).toBe(204)
    expect(
      (await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Back', siteId: ids.South } }))
        .status,
    ).toBe(404)
    // Moving a camera out to a site beyond the binding is not possible.
    const move = await t.request('PATCH', `/api/v1/cameras/${ids['North-Door']}`, {
      token,
      body: { siteId: ids.South },
    })
    expect(move.status).toBe(404)
    // Site-wide powers stop at the site: no new sites, no deleting, no users.
    expect((await t.request('POST', '/api/v1/sites', { token, body: { name: 'East' } })).status).toBe(403)
    expect((await t.request('DELETE', `/api/v1/sites/${ids.North}`, { token })).status).toBe(403)
    expect(
      (await t.request('POST', '/api/v1/users', { token, body: { username: 'x', password: USER_PASSWORD } }))
        .status,
    ).toBe(403)
  })

  it('a camera-scoped viewer sees one camera (and its site), and may change nothing', async () => {
    const { token } = await userWith('till-viewer', 'viewer', { type: 'camera', id: ids['South-Till'] })
    const cams = await t.request('GET', '/api/v1/cameras', { token })
    expect(cams.body.items.map((c: any) => c.id)).toEqual([ids['South-Till']])
    expect(names(await t.request('GET', '/api/v1/sites', { token }))).toEqual(['South'])
    expect((await t.request('GET', `/api/v1/cameras/${ids['South-Door']}`, { token })).status).toBe(404)
    // Visible but not permitted: 403, not 404.
    expect(
      (await t.request('PATCH', `/api/v1/cameras/${ids['South-Till']}`, { token, body: { name: 'x' } }))
        .status,
    ).toBe(403)
    expect(
      (await t.request('PATCH', `/api/v1/sites/${ids.South}`, { token, body: { name: 'x' } })).status,
    ).toBe(403)
    const me = await t.request('GET', '/api/v1/me', { token })
    expect(me.body).toMatchObject({
      username: 'till-viewer',
      tenantId: acme.tenantId,
      roles: ['viewer'],
      permissions: ['camera.live'],
    })
    expect(me.body.bindings[0].scope).toEqual({ type: 'camera', id: ids['South-Till'] })
  })

  it('a user without bindings sees no sites or cameras', async () => {
    const u = await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'nobody', password: USER_PASSWORD },
    })
    expect(u.status).toBe(201)
    const token = (await t.login('acme', 'nobody', USER_PASSWORD)).accessToken
    expect((await t.request('GET', '/api/v1/sites', { token })).body).toEqual({ items: [], total: 0 })
    expect((await t.request('GET', '/api/v1/cameras', { token })).body).toEqual({ items: [], total: 0 })
    expect((await t.request('GET', `/api/v1/sites/${ids.North}`, { token })).status).toBe(404)
    expect((await t.request('GET', '/api/v1/me', { token })).body.permissions).toEqual([])
  })

  it('takes effect at once when a binding is added or removed', async () => {
    const { id, token } = await userWith('flexi', 'viewer', { type: 'site', id: ids.North })
    expect(names(await t.request('GET', '/api/v1/sites', { token }))).toEqual(['North'])
    const extra = await t.request('POST', `/api/v1/users/${id}/role-bindings`, {
      token: acme.token,
      body: { role: 'viewer', scope: { type: 'site', id: ids.South } },
    })
    expect(names(await t.request('GET', '/api/v1/sites', { token }))).toEqual(['North', 'South'])
    await t.request('DELETE', `/api/v1/users/${id}/role-bindings/${extra.body.id}`, { token: acme.token })
    expect(names(await t.request('GET', '/api/v1/sites', { token }))).toEqual(['North'])
  })

  it('validates bindings: unknown role or scope 404, duplicate 409, wrong shape 400', async () => {
    const { id } = await userWith('bindee', 'viewer', { type: 'tenant' })
    const post = (body: unknown) =>
      t.request('POST', `/api/v1/users/${id}/role-bindings`, { token: acme.token, body })
    expect((await post({ role: 'no-such-role', scope: { type: 'tenant' } })).status).toBe(404)
    expect(
      (await post({ role: 'viewer', scope: { type: 'site', id: '00000000-0000-4000-8000-000000000000' } }))
        .status,
    ).toBe(404)
    expect((await post({ role: 'viewer', scope: { type: 'tenant' } })).status).toBe(409)
    expect((await post({ role: 'viewer', scope: { type: 'site' } })).status).toBe(400)
    expect((await post({ role: 'viewer', scope: { type: 'planet' } })).status).toBe(400)
    expect((await post({ role: 'viewer' })).status).toBe(400)
    expect((await post({ role: 'system-admin', scope: { type: 'tenant' } })).status).toBe(403)
  })
})

describe('custom roles', () => {
  it('are defined from the catalogue and bound like built-in ones', async () => {
    const role = await t.request('POST', '/api/v1/roles', {
      token: acme.token,
      body: {
        name: 'loss-prevention',
        permissions: ['camera.live', 'camera.playback', 'camera.export'],
        description: 'LP team',
      },
    })
    expect(role.status).toBe(201)
    expect(role.body).toMatchObject({ tenantId: acme.tenantId, builtin: false, name: 'loss-prevention' })
    const { token } = await userWith('lp', 'loss-prevention', { type: 'site', id: ids.South })
    const me = await t.request('GET', '/api/v1/me', { token })
    expect(me.body.permissions).toEqual(['camera.export', 'camera.live', 'camera.playback'])
    expect(names(await t.request('GET', '/api/v1/sites', { token }))).toEqual(['South'])
    // In use: cannot be deleted.
    expect((await t.request('DELETE', `/api/v1/roles/${role.body.id}`, { token: acme.token })).status).toBe(
      409,
    )
    const renamed = await t.request('PATCH', `/api/v1/roles/${role.body.id}`, {
      token: acme.token,
      body: { name: 'LP' },
    })
    expect(renamed.body.name).toBe('LP')
  })

  it('reject unknown permissions (400), built-in names (409) and changes to built-in roles (409)', async () => {
    const bad = await t.request('POST', '/api/v1/roles', {
      token: acme.token,
      body: { name: 'x', permissions: ['camera.launch'] },
    })
    expect(bad.status).toBe(400)
    const clash = await t.request('POST', '/api/v1/roles', {
      token: acme.token,
      body: { name: 'Operator', permissions: [] },
    })
    expect(clash.status).toBe(409)
    const roles = await t.request('GET', '/api/v1/roles', { token: acme.token })
    const builtin = roles.body.items.find((r: any) => r.name === 'viewer')
    expect(builtin.builtin).toBe(true)
    expect(
      (await t.request('PATCH', `/api/v1/roles/${builtin.id}`, { token: acme.token, body: { name: 'v' } }))
        .status,
    ).toBe(409)
    expect((await t.request('DELETE', `/api/v1/roles/${builtin.id}`, { token: acme.token })).status).toBe(409)
    expect(
      roles.body.items
        .filter((r: any) => r.builtin)
        .map((r: any) => r.name)
        .sort(),
    ).toEqual(['auditor', 'installer', 'operator', 'site-manager', 'system-admin', 'tenant-admin', 'viewer'])
  })

  it('cannot be used to escalate privileges', async () => {
    const mgr = await t.request('POST', '/api/v1/roles', {
      token: acme.token,
      body: { name: 'people', permissions: ['user.manage', 'role.manage', 'camera.live'] },
    })
    expect(mgr.status).toBe(201)
    const { id, token } = await userWith('hr', 'people', { type: 'tenant' })
    // hr may manage users and roles, but not hand out powers hr does not hold.
    const escalate = await t.request('POST', '/api/v1/roles', {
      token,
      body: { name: 'god', permissions: ['camera.manage'] },
    })
    expect(escalate.status).toBe(403)
    expect(escalate.body.error.code).toBe('privilege_escalation')
    expect(
      (
        await t.request('PATCH', `/api/v1/roles/${mgr.body.id}`, {
          token,
          body: { permissions: ['user.manage', 'role.manage', 'site.manage'] },
        })
      ).status,
    ).toBe(403)
    const selfGrant = await t.request('POST', `/api/v1/users/${id}/role-bindings`, {
      token,
      body: { role: 'tenant-admin', scope: { type: 'tenant' } },
    })
    expect(selfGrant.status).toBe(403)
    const ok = await t.request('POST', `/api/v1/users/${id}/role-bindings`, {
      token,
      body: { role: 'viewer', scope: { type: 'tenant' } },
    })
    expect(ok.status).toBe(201)
  })
})

describe('a site’s time zone', () => {
  it('is set by whoever manages the site, in canonical spelling, and audited', async () => {
    const token = acme.token
    const created = await t.request('POST', '/api/v1/sites', {
      token,
      body: { name: 'Harbour', timeZone: 'asia/tokyo' },
    })
    expect(created.status, created.text).toBe(201)
    expect(created.body.timeZone).toBe('Asia/Tokyo')
    const plain = await t.request('GET', `/api/v1/sites/${ids.North}`, { token })
    expect(plain.body.timeZone).toBeNull()
    const set = await t.request('PATCH', `/api/v1/sites/${ids.North}`, {
      token,
      body: { timeZone: 'Europe/Paris' },
    })
    expect(set.status).toBe(200)
    expect(set.body).toMatchObject({ name: 'North', timeZone: 'Europe/Paris' })
    const audit = await t.request('GET', `/api/v1/audit?action=site.update&targetId=${ids.North}`, { token })
    expect(audit.body.items[0]?.details).toMatchObject({ fields: ['timeZone'], timeZone: 'Europe/Paris' })

    for (const bad of [
      'Mars/Olympus',
      '+02:00',
      'CET',
      'Europe/Paris\u0000',
      '\uD800',
      'x'.repeat(10_000),
      42,
    ]) {
      const res = await t.request('PATCH', `/api/v1/sites/${ids.North}`, { token, body: { timeZone: bad } })
      expect(res.status, JSON.stringify(bad)).toBe(400)
    }
    expect((await t.request('GET', `/api/v1/sites/${ids.North}`, { token })).body.timeZone).toBe(
      'Europe/Paris',
    )
    // null clears it.
    const cleared = await t.request('PATCH', `/api/v1/sites/${ids.North}`, {
      token,
      body: { timeZone: null },
    })
    expect(cleared.body.timeZone).toBeNull()

    // A viewer of the site may read the zone, not change it.
    const { token: viewer } = await userWith('north-viewer-tz', 'viewer', { type: 'site', id: ids.North })
    expect((await t.request('GET', `/api/v1/sites/${ids.North}`, { token: viewer })).body.timeZone).toBeNull()
    expect(
      (await t.request('PATCH', `/api/v1/sites/${ids.North}`, { token: viewer, body: { timeZone: 'UTC' } }))
        .status,
    ).toBe(403)
  })
})
