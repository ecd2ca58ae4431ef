import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from '../helpers/test-hub.ts'

/**
 * The principal cache (issue 17): authenticated requests are served from cached principals, and
 * every change to what a principal is made of reaches every hub's cache through the database's
 * triggers, whoever makes it: this hub's API, another hub's, or SQL from outside.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let roleId: string
let auditor: { id: string; token: string }

const auditStatus = async (token: string, hub: TestHub = t) =>
  (await hub.request('GET', '/api/v1/audit?limit=1', { token })).status

/** Eventually (another process's change travels by NOTIFY); fails after 10 s. */
const eventually = (probe: () => Promise<number>) => expect.poll(probe, { timeout: 10_000, interval: 50 })

/**
 * Changes from other sessions reach a hub by LISTEN on PostgreSQL. PGlite is one session serving
 * one hub (its socket server interleaves clients in that session), so only the hub's own changes
 * exist there: the tests of other sessions' changes need a PostgreSQL server.
 */
const onPostgres = Boolean(process.env.VMS_TEST_DATABASE_URL)
if (!onPostgres) console.warn('principal-cache: LISTEN tests skipped (set VMS_TEST_DATABASE_URL to run them)')

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  const role = await t.request('POST', '/api/v1/roles', {
    token: acme.token,
    body: { name: 'log-reader', permissions: ['audit.read'] },
  })
  expect(role.status, role.text).toBe(201)
  roleId = role.body.id
  auditor = await userWithRole(t, 'acme', acme.token, 'aud', 'log-reader', { type: 'tenant' })
})
afterAll(async () => {
  await t?.close()
})

describe('principal cache', () => {
  it('serves a cached principal: a change no trigger announces is not seen until the entry goes', async () => {
    expect(await auditStatus(auditor.token)).toBe(200)
    expect(t.hub.context.principals.get(auditor.id)?.userId).toBe(auditor.id)
    // As if a change escaped the triggers: the hub keeps serving what it cached.
    await t.db.adminQuery('ALTER TABLE users DISABLE TRIGGER users_principal_changed')
    try {
      await t.db.adminQuery('UPDATE users SET disabled = true WHERE id = $1', [auditor.id])
      expect(await auditStatus(auditor.token)).toBe(200)
    } finally {
      await t.db.adminQuery('ALTER TABLE users ENABLE TRIGGER users_principal_changed')
    }
    t.hub.context.principals.invalidate({ scope: 'all' })
    expect(await auditStatus(auditor.token)).toBe(401)
    const enabled = await t.request('PATCH', `/api/v1/users/${auditor.id}`, {
      token: acme.token,
      body: { disabled: false },
    })
    expect(enabled.status, enabled.text).toBe(200)
    expect(await auditStatus(auditor.token)).toBe(200)
  })

  it("applies this hub's own changes before it answers them", async () => {
    expect(await auditStatus(auditor.token)).toBe(200)
    // The session that made the change heard of it (a NOTICE) before the hub answered: no race
    // with the NOTIFY every hub gets after the commit.
    const heard: string[] = []
    const stop = t.hub.context.db.onPrincipalChange((payload) => heard.push(payload))
    const disable = await t.request('PATCH', `/api/v1/users/${auditor.id}`, {
      token: acme.token,
      body: { disabled: true },
    })
    stop()
    expect(disable.status, disable.text).toBe(200)
    expect(heard).toContain(`${acme.tenantId}:${auditor.id}`)
    expect(await auditStatus(auditor.token)).toBe(401)
    await t.request('PATCH', `/api/v1/users/${auditor.id}`, { token: acme.token, body: { disabled: false } })
    // Disabling ended the user's sessions: a new sign-in is served at once.
    expect(await auditStatus(auditor.token)).toBe(401)
    auditor.token = (await t.login('acme', 'aud', USER_PASSWORD)).accessToken
    expect(await auditStatus(auditor.token)).toBe(200)

    // A role losing a permission changes everyone bound to it.
    const narrowed = await t.request('PATCH', `/api/v1/roles/${roleId}`, {
      token: acme.token,
      body: { permissions: ['camera.live'] },
    })
    expect(narrowed.status, narrowed.text).toBe(200)
    expect(await auditStatus(auditor.token)).toBe(403)
    await t.request('PATCH', `/api/v1/roles/${roleId}`, {
      token: acme.token,
      body: { permissions: ['audit.read'] },
    })
    expect(await auditStatus(auditor.token)).toBe(200)

    // A binding removed.
    const bindings = await t.request('GET', `/api/v1/users/${auditor.id}/role-bindings`, {
      token: acme.token,
    })
    const binding = (bindings.body.items ?? bindings.body)[0] as { id: string }
    const removed = await t.request('DELETE', `/api/v1/users/${auditor.id}/role-bindings/${binding.id}`, {
      token: acme.token,
    })
    expect(removed.status, removed.text).toBe(204)
    expect(await auditStatus(auditor.token)).toBe(403)
    const added = await t.request('POST', `/api/v1/users/${auditor.id}/role-bindings`, {
      token: acme.token,
      body: { role: 'log-reader', scope: { type: 'tenant' } },
    })
    expect(added.status, added.text).toBe(201)
    expect(await auditStatus(auditor.token)).toBe(200)
  })

  it.runIf(onPostgres)('sees changes made outside the hub (SQL, the CLI) through LISTEN', async () => {
    expect(await auditStatus(auditor.token)).toBe(200)
    await t.db.adminQuery('UPDATE users SET disabled = true WHERE id = $1', [auditor.id])
    await eventually(() => auditStatus(auditor.token)).toBe(401)
    await t.db.adminQuery('UPDATE users SET disabled = false WHERE id = $1', [auditor.id])
    await eventually(() => auditStatus(auditor.token)).toBe(200)
    await t.db.adminQuery('UPDATE roles SET permissions = $1 WHERE id = $2', [['camera.live'], roleId])
    await eventually(() => auditStatus(auditor.token)).toBe(403)
    await t.db.adminQuery('UPDATE roles SET permissions = $1 WHERE id = $2', [['audit.read'], roleId])
    await eventually(() => auditStatus(auditor.token)).toBe(200)
  })

  it.runIf(onPostgres)(
    'starts from empty when its listening connection comes back (announcements may have been missed)',
    async () => {
      expect(await auditStatus(auditor.token)).toBe(200)
      await t.db.adminQuery('ALTER TABLE users DISABLE TRIGGER users_principal_changed')
      try {
        await t.db.adminQuery('UPDATE users SET disabled = true WHERE id = $1', [auditor.id])
      } finally {
        await t.db.adminQuery('ALTER TABLE users ENABLE TRIGGER users_principal_changed')
      }
      expect(await auditStatus(auditor.token)).toBe(200)
      const ended = await t.db.adminQuery<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE application_name = 'ts-vms-hub-listen' AND datname = current_database()`,
      )
      expect(ended.rows.length).toBe(1)
      await eventually(() => auditStatus(auditor.token)).toBe(401)
      await t.db.adminQuery('UPDATE users SET disabled = false WHERE id = $1', [auditor.id])
      await eventually(() => auditStatus(auditor.token)).toBe(200)
      expect(t.logs.text()).toMatch(/principal-change listener lost its connection/)
    },
  )

  it.runIf(onPostgres)('keeps two hubs on one database true to each other', async () => {
    const b = await startTestHub({ VMS_MASTER_KEY: t.config.VMS_MASTER_KEY }, { db: t.db })
    try {
      const viaB = await b.login('acme', 'aud', USER_PASSWORD)
      expect(await auditStatus(viaB.accessToken, b)).toBe(200)
      const narrowed = await t.request('PATCH', `/api/v1/roles/${roleId}`, {
        token: acme.token,
        body: { permissions: ['camera.live'] },
      })
      expect(narrowed.status).toBe(200)
      await eventually(() => auditStatus(viaB.accessToken, b)).toBe(403)
      await t.request('PATCH', `/api/v1/roles/${roleId}`, {
        token: acme.token,
        body: { permissions: ['audit.read'] },
      })
      await eventually(() => auditStatus(viaB.accessToken, b)).toBe(200)
      // A new password set through one hub ends the user's sessions on the other.
      expect(await auditStatus(auditor.token)).toBe(200)
      const reset = await b.request('PATCH', `/api/v1/users/${auditor.id}`, {
        token: acme.token,
        body: { password: 'Quartz-Falcon-Meadow-5519' },
      })
      expect(reset.status, reset.text).toBe(200)
      await eventually(() => auditStatus(auditor.token)).toBe(401)
    } finally {
      await b.close()
    }
  })
})
