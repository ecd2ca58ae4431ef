import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.ts'
import {
  ADMIN_PASSWORD,
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
} from '../helpers/test-hub.ts'

// Issue 10, items 2, 6, 7 and 8: ways to take over an account that is not yours.

const NEW_PASSWORD = 'Brass-Meadow-Kettle-2048'

let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>

beforeAll(async () => {
  t = await startTestHub({ VMS_TRUST_PROXY: '127.0.0.1' })
  acme = await createTenantWithAdmin(t, 'acme')
})
afterAll(async () => {
  await t?.close()
})

async function createUser(token: string, body: Record<string, unknown>) {
  const res = await t.request('POST', '/api/v1/users', { token, body: { password: USER_PASSWORD, ...body } })
  expect(res.status, res.text).toBe(201)
  return res.body as { id: string; username: string }
}

async function bindRole(token: string, userId: string, role: string) {
  const res = await t.request('POST', `/api/v1/users/${userId}/role-bindings`, {
    token,
    body: { role, scope: { type: 'tenant' } },
  })
  expect(res.status, res.text).toBe(201)
  return res.body as { id: string }
}

const loginStatus = async (tenant: string, username: string, password: string) =>
  (await t.request('POST', '/api/v1/auth/login', { body: { tenant, username, password } })).status

describe('user.manage cannot take over more powerful users (item 2)', () => {
  it('refuses a user.manage-only role any write to a tenant-admin, and allows it on lesser users', async () => {
    const role = await t.request('POST', '/api/v1/roles', {
      token: acme.token,
      body: { name: 'helpdesk', permissions: ['user.manage'] },
    })
    expect(role.status, role.text).toBe(201)
    const desk = await createUser(acme.token, { username: 'desk' })
    await bindRole(acme.token, desk.id, 'helpdesk')
    const token = (await t.login('acme', 'desk', USER_PASSWORD)).accessToken
    const admin = `/api/v1/users/${acme.adminId}`

    for (const body of [
      { password: NEW_PASSWORD },
      { email: 'desk-owned@acme.example' },
      { disabled: true },
      { username: 'acme-admin-renamed' },
    ]) {
      const res = await t.request('PATCH', admin, { token, body })
      expect(res.status, JSON.stringify(body)).toBe(403)
      expect(res.body.error.code).toBe('privilege_escalation')
    }
    const del = await t.request('DELETE', admin, { token })
    expect(del.status).toBe(403)
    expect(del.body.error.code).toBe('privilege_escalation')
    // Demoting them (taking their binding away) is the same rule.
    const bindings = await t.request('GET', `${admin}/role-bindings`, { token })
    const adminBinding = bindings.body.items.find((b: any) => b.role.name === 'tenant-admin')
    const demote = await t.request('DELETE', `${admin}/role-bindings/${adminBinding.id}`, { token })
    expect(demote.status).toBe(403)
    expect(demote.body.error.code).toBe('privilege_escalation')
    // The admin is untouched.
    expect(await loginStatus('acme', 'acme-admin', USER_PASSWORD)).toBe(200)

    // A user holding nothing desk lacks is desk's to manage.
    const clerk = await createUser(token, { username: 'clerk', email: 'clerk@acme.example' })
    const reset = await t.request('PATCH', `/api/v1/users/${clerk.id}`, {
      token,
      body: { password: NEW_PASSWORD, email: 'clerk2@acme.example' },
    })
    expect(reset.status, reset.text).toBe(200)
    expect(await loginStatus('acme', 'clerk', NEW_PASSWORD)).toBe(200)
    expect(
      (await t.request('PATCH', `/api/v1/users/${clerk.id}`, { token, body: { disabled: true } })).status,
    ).toBe(200)
    expect((await t.request('DELETE', `/api/v1/users/${clerk.id}`, { token })).status).toBe(204)

    // A viewer holds camera.live, which desk does not: desk may not reset them either.
    const viewer = await createUser(acme.token, { username: 'watcher' })
    await bindRole(acme.token, viewer.id, 'viewer')
    const res = await t.request('PATCH', `/api/v1/users/${viewer.id}`, {
      token,
      body: { password: NEW_PASSWORD },
    })
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('privilege_escalation')
    // ... while the tenant-admin, who holds everything the viewer holds, may.
    expect(
      (
        await t.request('PATCH', `/api/v1/users/${viewer.id}`, {
          token: acme.token,
          body: { password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(200)
  })

  it('refuses a tenant-admin of the system tenant any write to a system-admin', async () => {
    const sys = await t.adminToken()
    const me = await t.request('GET', '/api/v1/me', { token: sys })
    const deputy = await createUser(sys, { username: 'deputy' })
    await bindRole(sys, deputy.id, 'tenant-admin')
    const token = (await t.login('system', 'deputy', USER_PASSWORD)).accessToken
    for (const body of [{ password: NEW_PASSWORD }, { email: 'deputy@evil.example' }, { disabled: true }]) {
      const res = await t.request('PATCH', `/api/v1/users/${me.body.id}`, { token, body })
      expect(res.status, JSON.stringify(body)).toBe(403)
      expect(res.body.error.code).toBe('privilege_escalation')
    }
    const del = await t.request('DELETE', `/api/v1/users/${me.body.id}`, { token })
    expect(del.status).toBe(403)
    expect(del.body.error.code).toBe('privilege_escalation')
    expect(await loginStatus('system', 'admin', ADMIN_PASSWORD)).toBe(200)
    // The deputy still manages ordinary users of the system tenant.
    const plain = await createUser(token, { username: 'plain' })
    expect(
      (await t.request('PATCH', `/api/v1/users/${plain.id}`, { token, body: { password: NEW_PASSWORD } }))
        .status,
    ).toBe(200)
  })
})

describe('changing your own e-mail (item 6)', () => {
  it('needs currentPassword, and tells the old address', async () => {
    const mia = await createUser(acme.token, { username: 'mia', email: 'mia@acme.example' })
    const token = (await t.login('acme', 'mia', USER_PASSWORD)).accessToken
    const url = `/api/v1/users/${mia.id}`
    const missing = await t.request('PATCH', url, { token, body: { email: 'mia@evil.example' } })
    expect(missing.status).toBe(422)
    expect(missing.body.error.code).toBe('current_password_required')
    const wrong = await t.request('PATCH', url, {
      token,
      body: { email: 'mia@evil.example', currentPassword: 'not-my-password-at-all' },
    })
    expect(wrong.status).toBe(403)
    expect(wrong.body.error.code).toBe('current_password_mismatch')
    expect((await t.request('GET', url, { token })).body.email).toBe('mia@acme.example')

    const ok = await t.request('PATCH', url, {
      token,
      body: { email: 'mia@new.example', currentPassword: USER_PASSWORD },
    })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.body.email).toBe('mia@new.example')
    await expect.poll(() => t.logs.entries().filter((e) => e.mailTo === 'mia@acme.example').length).toBe(1)
    const notice = t.logs.entries().find((e) => e.mailTo === 'mia@acme.example')
    expect(notice?.level).toBe(40)
    expect(notice?.mailText).toContain('mia@new.example')
    expect(t.logs.text()).not.toContain(USER_PASSWORD)
    // Other fields still need no password.
    expect((await t.request('PATCH', url, { token, body: { displayName: 'Mia' } })).status).toBe(200)
  })

  it('does not let a stolen token guess currentPassword without limit', async () => {
    const rae = await createUser(acme.token, { username: 'rae', email: 'rae@acme.example' })
    const token = (await t.login('acme', 'rae', USER_PASSWORD)).accessToken
    const change = (currentPassword: string) =>
      t.request('PATCH', `/api/v1/users/${rae.id}`, {
        token,
        body: { email: 'rae@evil.example', currentPassword },
      })
    for (let i = 0; i < 10; i++) expect((await change(`guess-number-${i}`)).status).toBe(403)
    const locked = await change(USER_PASSWORD)
    expect(locked.status).toBe(429)
    expect((await t.request('GET', `/api/v1/users/${rae.id}`, { token })).body.email).toBe('rae@acme.example')
  })

  it('tells the old address when an administrator changes it too', async () => {
    const noah = await createUser(acme.token, { username: 'noah', email: 'noah@acme.example' })
    const res = await t.request('PATCH', `/api/v1/users/${noah.id}`, {
      token: acme.token,
      body: { email: 'noah@new.example' },
    })
    expect(res.status).toBe(200)
    await expect.poll(() => t.logs.entries().filter((e) => e.mailTo === 'noah@acme.example').length).toBe(1)
  })
})

function tokenFromLog(to: string): string {
  const text = t.logs
    .entries()
    .filter((e) => e.mailTo === to)
    .at(-1)?.mailText as string | undefined
  const token = text?.match(/[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}/)?.[0]
  if (!token) throw new Error(`no reset mail for ${to} in the log`)
  return token
}

describe('password reset probes (item 7)', () => {
  it('answers before it looks anything up, for known and unknown addresses alike', {
    timeout: 30_000,
  }, async () => {
    await createUser(acme.token, { username: 'olga', email: 'olga@acme.example' })
    const db = t.hub.context.db as Database & Record<string, unknown>
    const original = { withSystem: db.withSystem, withTenant: db.withTenant }
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let held = 0
    // Every database transaction waits at the gate until the answers are in: a handler that looked
    // the address up before answering would never answer (and this test would time out).
    const gated =
      <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        held++
        await gate
        return fn.apply(db, args)
      }
    db.withSystem = gated(original.withSystem) as Database['withSystem']
    db.withTenant = gated(original.withTenant) as Database['withTenant']
    // Only so that a failing run ends and restores the database; a passing run never waits on it.
    const stuck = () =>
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer')), 10_000))
    const ask = (email: string) =>
      Promise.race([
        t.request('POST', '/api/v1/auth/password-reset', {
          body: { tenant: 'acme', email },
          headers: { 'x-forwarded-for': '198.51.100.71' },
        }),
        stuck(),
      ])
    try {
      const known = await ask('olga@acme.example')
      const unknown = await ask('nobody@acme.example')
      expect(known.status).toBe(202)
      expect(unknown.status).toBe(202)
      expect(known.text).toBe(unknown.text)
    } finally {
      db.withSystem = original.withSystem
      db.withTenant = original.withTenant
      release()
    }
    expect(held).toBeGreaterThan(0)
    // The work still happens, afterwards.
    await expect.poll(() => t.logs.entries().some((e) => e.mailTo === 'olga@acme.example')).toBe(true)
  })

  it('limits requests per client address, across addresses and tenants', async () => {
    const from = { 'x-forwarded-for': '203.0.113.77' }
    const statuses: number[] = []
    for (let i = 0; i < 21; i++) {
      const res = await t.request('POST', '/api/v1/auth/password-reset', {
        body: { tenant: i % 2 ? 'acme' : 'system', email: `probe${i}@acme.example` },
        headers: from,
      })
      statuses.push(res.status)
    }
    expect(statuses.slice(0, 20).every((s) => s === 202)).toBe(true)
    expect(statuses[20]).toBe(429)
    const other = await t.request('POST', '/api/v1/auth/password-reset', {
      body: { tenant: 'acme', email: 'probe0@acme.example' },
      headers: { 'x-forwarded-for': '203.0.113.78' },
    })
    expect(other.status).toBe(202)
  })

  it("does not cancel the owner's pending link; using one link ends the others", async () => {
    const pat = await createUser(acme.token, { username: 'pat', email: 'pat@acme.example' })
    const mails = () => t.logs.entries().filter((e) => e.mailTo === 'pat@acme.example').length
    const ask = () =>
      t.request('POST', '/api/v1/auth/password-reset', {
        body: { tenant: 'acme', email: 'pat@acme.example' },
        headers: { 'x-forwarded-for': '198.51.100.72' },
      })
    await ask()
    await expect.poll(mails).toBe(1)
    const owners = tokenFromLog('pat@acme.example')
    // A stranger asks again for the same address.
    await ask()
    await expect.poll(mails).toBe(2)
    const strangers = tokenFromLog('pat@acme.example')
    expect(strangers).not.toBe(owners)
    const ok = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token: owners, password: NEW_PASSWORD },
    })
    expect(ok.status, ok.text).toBe(204)
    expect(await loginStatus('acme', 'pat', NEW_PASSWORD)).toBe(200)
    const stale = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token: strangers, password: 'Yet-Another-Phrase-777' },
    })
    expect(stale.status).toBe(400)
    const left = await t.db.adminQuery(
      'select count(*)::int as n from password_reset_tokens where user_id = $1 and used_at is null',
      [pat.id],
    )
    expect(left.rows[0]?.n).toBe(0)
  })
})

describe('one canonical username for lookup and lockout (item 8)', () => {
  it('does not let U+0130 (İ) sign in as another user, nor around the lockout', async () => {
    const sys = await t.adminToken()
    await createUser(sys, { username: 'viewer1' })
    expect(await loginStatus('system', 'adm\u0130n', ADMIN_PASSWORD)).toBe(401)
    for (let i = 0; i < 10; i++) expect(await loginStatus('system', 'viewer1', `wrong-${i}`)).toBe(401)
    expect(await loginStatus('system', 'viewer1', USER_PASSWORD)).toBe(429)
    const dotted = await loginStatus('system', 'v\u0130ewer1', USER_PASSWORD)
    expect(dotted).not.toBe(200)
    expect(await loginStatus('system', 'V\u0130EWER1', USER_PASSWORD)).not.toBe(200)
  })

  it('treats compatibility forms (Kelvin sign, fullwidth) as the same name, lockout included', async () => {
    const sys = await t.adminToken()
    await createUser(sys, { username: 'kelvin' })
    // Same canonical name: it is the same account, and the same lockout.
    expect(await loginStatus('system', '\u212Aelvin', USER_PASSWORD)).toBe(200)
    expect(await loginStatus('system', '\uFF2B\uFF25\uFF2C\uFF36\uFF29\uFF2E', USER_PASSWORD)).toBe(200)
    for (let i = 0; i < 10; i++) {
      const name = ['kelvin', '\u212Aelvin', '\uFF4B\uFF45\uFF4C\uFF56\uFF49\uFF4E'][i % 3] as string
      expect(await loginStatus('system', name, `wrong-${i}`)).toBe(401)
    }
    for (const name of ['kelvin', 'KELVIN', '\u212Aelvin', '\uFF4B\uFF45\uFF4C\uFF56\uFF49\uFF4E']) {
      expect(await loginStatus('system', name, USER_PASSWORD), name).toBe(429)
    }
  })

  it('refuses to create a user whose name differs from another only by case or compatibility tricks', async () => {
    await createUser(acme.token, { username: 'quinn' })
    for (const username of ['QUINN', '\uFF51\uFF55\uFF49\uFF4E\uFF4E', 'qu\u0130nn']) {
      const res = await t.request('POST', '/api/v1/users', {
        token: acme.token,
        body: { username, password: USER_PASSWORD },
      })
      expect(res.status, username).toBe(409)
    }
    // Names are stored in NFKC, so what is shown is what is typed to sign in.
    const kate = await createUser(acme.token, { username: '\u212Aate' })
    expect(kate.username).toBe('Kate')
    const renamed = await t.request('PATCH', `/api/v1/users/${kate.id}`, {
      token: acme.token,
      body: { username: '\uFF31UINN' },
    })
    expect(renamed.status).toBe(409)
  })
})
