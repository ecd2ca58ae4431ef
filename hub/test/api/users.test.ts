import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ADMIN_PASSWORD,
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
} from '../helpers/test-hub.ts'

let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
})
afterAll(async () => {
  await t?.close()
})

async function newUser(username: string, extra: Record<string, unknown> = {}) {
  const res = await t.request('POST', '/api/v1/users', {
    token: acme.token,
    body: { username, password: USER_PASSWORD, ...extra },
  })
  expect(res.status, res.text).toBe(201)
  return res.body as { id: string; username: string }
}

async function bind(userId: string, role: string, token = acme.token) {
  return t.request('POST', `/api/v1/users/${userId}/role-bindings`, {
    token,
    body: { role, scope: { type: 'tenant' } },
  })
}

describe('user management', () => {
  it('creates, reads, updates and deletes users without ever returning secrets', async () => {
    const created = await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'carol', password: USER_PASSWORD, email: 'carol@acme.example', displayName: 'Carol' },
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      username: 'carol',
      email: 'carol@acme.example',
      displayName: 'Carol',
      disabled: false,
    })
    expect(created.body.tenantId).toBe(acme.tenantId)
    expect(created.text).not.toMatch(/password|hash|argon/i)
    const id = created.body.id
    expect((await t.request('GET', `/api/v1/users/${id}`, { token: acme.token })).body.username).toBe('carol')
    const patched = await t.request('PATCH', `/api/v1/users/${id}`, {
      token: acme.token,
      body: { displayName: 'Carol C.' },
    })
    expect(patched.status).toBe(200)
    expect(patched.body.displayName).toBe('Carol C.')
    const list = await t.request('GET', '/api/v1/users?limit=1&offset=0', { token: acme.token })
    expect(list.body.items).toHaveLength(1)
    expect(list.body.total).toBeGreaterThanOrEqual(2)
    expect((await t.request('DELETE', `/api/v1/users/${id}`, { token: acme.token })).status).toBe(204)
    expect((await t.request('GET', `/api/v1/users/${id}`, { token: acme.token })).status).toBe(404)
  })

  it('enforces the password policy with 422', async () => {
    for (const password of [
      'short',
      'password1234',
      '123456789012',
      'aaaaaaaaaaaaaaa',
      'dave-is-my-name-ok',
    ]) {
      const res = await t.request('POST', '/api/v1/users', {
        token: acme.token,
        body: { username: 'dave', password },
      })
      expect(res.status, password).toBe(422)
      expect(res.body.error.code).toBe('weak_password')
    }
  })

  it('rejects duplicate usernames (case-insensitively) and emails with 409', async () => {
    await newUser('erin', { email: 'erin@acme.example' })
    expect(
      (
        await t.request('POST', '/api/v1/users', {
          token: acme.token,
          body: { username: 'ERIN', password: USER_PASSWORD },
        })
      ).status,
    ).toBe(409)
    const dupEmail = await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'erin2', password: USER_PASSWORD, email: 'Erin@acme.example' },
    })
    expect(dupEmail.status).toBe(409)
  })

  it('lets a user without user.manage see and edit only themself', async () => {
    const frank = await newUser('frank')
    const other = await newUser('grace')
    const token = (await t.login('acme', 'frank', USER_PASSWORD)).accessToken
    const list = await t.request('GET', '/api/v1/users', { token })
    expect(list.body.items.map((u: any) => u.username)).toEqual(['frank'])
    expect((await t.request('GET', `/api/v1/users/${other.id}`, { token })).status).toBe(404)
    expect(
      (await t.request('PATCH', `/api/v1/users/${other.id}`, { token, body: { displayName: 'x' } })).status,
    ).toBe(404)
    expect(
      (await t.request('PATCH', `/api/v1/users/${frank.id}`, { token, body: { displayName: 'Frank' } }))
        .status,
    ).toBe(200)
    expect(
      (await t.request('PATCH', `/api/v1/users/${frank.id}`, { token, body: { username: 'boss' } })).status,
    ).toBe(403)
    expect((await t.request('DELETE', `/api/v1/users/${frank.id}`, { token })).status).toBe(403)
    expect(
      (await t.request('POST', '/api/v1/users', { token, body: { username: 'x1', password: USER_PASSWORD } }))
        .status,
    ).toBe(403)
  })

  it('needs the current password to change your own, then ends your sessions', async () => {
    const henry = await newUser('henry')
    const session = await t.login('acme', 'henry', USER_PASSWORD)
    const token = session.accessToken
    const newPassword = 'Velvet-Compass-Harbor-9'
    const missing = await t.request('PATCH', `/api/v1/users/${henry.id}`, {
      token,
      body: { password: newPassword },
    })
    expect(missing.status).toBe(422)
    const wrong = await t.request('PATCH', `/api/v1/users/${henry.id}`, {
      token,
      body: { password: newPassword, currentPassword: 'not-my-password-at-all' },
    })
    expect(wrong.status).toBe(403)
    const ok = await t.request('PATCH', `/api/v1/users/${henry.id}`, {
      token,
      body: { password: newPassword, currentPassword: USER_PASSWORD },
    })
    expect(ok.status).toBe(200)
    expect((await t.request('GET', '/api/v1/me', { token })).status).toBe(401)
    expect(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }))
        .status,
    ).toBe(401)
    await t.login('acme', 'henry', newPassword)
  })

  it('lets an admin reset a password directly, revoking every session', async () => {
    const ivan = await newUser('ivan')
    const session = await t.login('acme', 'ivan', USER_PASSWORD)
    const res = await t.request('PATCH', `/api/v1/users/${ivan.id}`, {
      token: acme.token,
      body: { password: 'Another-Strong-Phrase-55' },
    })
    expect(res.status).toBe(200)
    expect((await t.request('GET', '/api/v1/me', { token: session.accessToken })).status).toBe(401)
    expect(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }))
        .status,
    ).toBe(401)
    expect(t.logs.entries().some((e) => e.action === 'user.password.reset' && e.target?.id === ivan.id)).toBe(
      true,
    )
  })

  it('disabling a user blocks login and revokes every session at once', async () => {
    const judy = await newUser('judy')
    const session = await t.login('acme', 'judy', USER_PASSWORD)
    const res = await t.request('PATCH', `/api/v1/users/${judy.id}`, {
      token: acme.token,
      body: { disabled: true },
    })
    expect(res.status).toBe(200)
    expect(res.body.disabled).toBe(true)
    expect((await t.request('GET', '/api/v1/me', { token: session.accessToken })).status).toBe(401)
    expect(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }))
        .status,
    ).toBe(401)
    const login = await t.request('POST', '/api/v1/auth/login', {
      body: { tenant: 'acme', username: 'judy', password: USER_PASSWORD },
    })
    expect(login.status).toBe(403)
    expect(login.body.error.code).toBe('account_disabled')
    // ... while a wrong password for a disabled account still looks like any wrong password.
    const wrong = await t.request('POST', '/api/v1/auth/login', {
      body: { tenant: 'acme', username: 'judy', password: 'nope-nope-nope' },
    })
    expect(wrong.status).toBe(401)
    await t.request('PATCH', `/api/v1/users/${judy.id}`, { token: acme.token, body: { disabled: false } })
    await t.login('acme', 'judy', USER_PASSWORD)
  })
})

describe('self-disable and last-admin protection', () => {
  it('stops users from disabling or deleting themselves', async () => {
    const self = await t.request('PATCH', `/api/v1/users/${acme.adminId}`, {
      token: acme.token,
      body: { disabled: true },
    })
    expect(self.status).toBe(409)
    expect(self.body.error.code).toBe('self_disable')
    const del = await t.request('DELETE', `/api/v1/users/${acme.adminId}`, { token: acme.token })
    expect(del.status).toBe(409)
    expect(del.body.error.code).toBe('self_delete')
  })

  it('keeps the last active tenant-admin from being disabled, deleted or demoted', async () => {
    const sys = await t.adminToken()
    const disable = await t.request('PATCH', `/api/v1/users/${acme.adminId}`, {
      token: sys,
      body: { disabled: true },
    })
    expect(disable.status).toBe(409)
    expect(disable.body.error.code).toBe('last_admin')
    expect((await t.request('DELETE', `/api/v1/users/${acme.adminId}`, { token: sys })).status).toBe(409)
    const bindings = await t.request('GET', `/api/v1/users/${acme.adminId}/role-bindings`, { token: sys })
    const adminBinding = bindings.body.items.find((b: any) => b.role.name === 'tenant-admin')
    const demote = await t.request(
      'DELETE',
      `/api/v1/users/${acme.adminId}/role-bindings/${adminBinding.id}`,
      { token: sys },
    )
    expect(demote.status).toBe(409)
    expect(demote.body.error.code).toBe('last_admin')

    // With a second active tenant-admin, the first may go; then the second is the last one.
    const kim = await newUser('kim')
    expect((await bind(kim.id, 'tenant-admin')).status).toBe(201)
    expect(
      (await t.request('PATCH', `/api/v1/users/${acme.adminId}`, { token: sys, body: { disabled: true } }))
        .status,
    ).toBe(200)
    const kimToken = (await t.login('acme', 'kim', USER_PASSWORD)).accessToken
    const kimBindings = await t.request('GET', `/api/v1/users/${kim.id}/role-bindings`, { token: sys })
    const kimAdmin = kimBindings.body.items.find((b: any) => b.role.name === 'tenant-admin')
    const selfDemote = await t.request('DELETE', `/api/v1/users/${kim.id}/role-bindings/${kimAdmin.id}`, {
      token: kimToken,
    })
    expect(selfDemote.status).toBe(409)
    expect(selfDemote.body.error.code).toBe('self_demotion')
    expect((await t.request('DELETE', `/api/v1/users/${kim.id}`, { token: sys })).status).toBe(409)
    // A disabled admin does not count: re-enabling brings the first one back.
    expect(
      (await t.request('PATCH', `/api/v1/users/${acme.adminId}`, { token: sys, body: { disabled: false } }))
        .status,
    ).toBe(200)
    expect(
      (await t.request('DELETE', `/api/v1/users/${kim.id}/role-bindings/${kimAdmin.id}`, { token: sys }))
        .status,
    ).toBe(204)
  })

  it('keeps the last system-admin in place', async () => {
    const sys = await t.adminToken()
    const me = await t.request('GET', '/api/v1/me', { token: sys })
    const second = await t.request('POST', '/api/v1/users', {
      token: sys,
      body: { username: 'root2', password: USER_PASSWORD },
    })
    const rootToken = async () => (await t.login('system', 'root2', USER_PASSWORD)).accessToken
    expect((await bind(second.body.id, 'system-admin', sys)).status).toBe(201)
    const token2 = await rootToken()
    // root2 cannot take away the original admin while... they are not the last: that works.
    expect(
      (await t.request('PATCH', `/api/v1/users/${me.body.id}`, { token: token2, body: { disabled: true } }))
        .status,
    ).toBe(200)
    // Now root2 is the last active system-admin: nobody can disable, delete or demote them.
    const adminBack = await t.request('PATCH', `/api/v1/users/${me.body.id}`, {
      token: token2,
      body: { disabled: false },
    })
    expect(adminBack.status).toBe(200)
    expect(
      (await t.request('DELETE', `/api/v1/users/${second.body.id}`, { token: await t.adminToken() })).status,
    ).toBe(204)
    const lastDisable = await t.request('PATCH', `/api/v1/users/${me.body.id}`, {
      token: await t.adminToken(),
      body: { disabled: true },
    })
    expect(lastDisable.status).toBe(409)
    const sysBindings = await t.request('GET', `/api/v1/users/${me.body.id}/role-bindings`, {
      token: await t.adminToken(),
    })
    const sb = sysBindings.body.items.find((b: any) => b.role.name === 'system-admin')
    const demote = await t.request('DELETE', `/api/v1/users/${me.body.id}/role-bindings/${sb.id}`, {
      token: await t.adminToken(),
    })
    expect(demote.status).toBe(409)
    expect((await t.login('system', 'admin', ADMIN_PASSWORD)).accessToken).toBeTruthy()
  })

  it('does not let two admins remove each other at the same time', async () => {
    const sys = await t.adminToken()
    const tenant = await createTenantWithAdmin(t, 'race')
    const second = await t.request('POST', '/api/v1/users', {
      token: sys,
      body: { username: 'race-admin2', password: USER_PASSWORD, tenantId: tenant.tenantId },
    })
    await bind(second.body.id, 'tenant-admin', sys)
    const token2 = (await t.login('race', 'race-admin2', USER_PASSWORD)).accessToken
    const [r1, r2] = await Promise.all([
      t.request('PATCH', `/api/v1/users/${second.body.id}`, {
        token: tenant.token,
        body: { disabled: true },
      }),
      t.request('PATCH', `/api/v1/users/${tenant.adminId}`, { token: token2, body: { disabled: true } }),
    ])
    const statuses = [r1.status, r2.status].sort()
    // Exactly one wins; the loser finds either the last-admin rule or its own session ended.
    expect(statuses[0]).toBe(200)
    expect([401, 409]).toContain(statuses[1])
    const active = await t.db.adminQuery(
      `select count(*)::int as n from users where tenant_id = $1 and not disabled`,
      [tenant.tenantId],
    )
    expect(active.rows[0]?.n).toBe(1)
  })
})
