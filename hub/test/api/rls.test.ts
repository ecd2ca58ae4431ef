import { BUILTIN_ROLES } from '@ts-vms/shared'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

/**
 * Row-level security, proven in SQL: as the role the hub's request traffic runs as, a query that
 * forgets its tenant filter still sees and touches only the tenant named in the transaction.
 */
let t: TestHub
let a: Awaited<ReturnType<typeof createTenantWithAdmin>>
let b: Awaited<ReturnType<typeof createTenantWithAdmin>>

const TENANT_TABLES = [
  'sites',
  'cameras',
  'users',
  'role_bindings',
  'refresh_tokens',
  'password_reset_tokens',
]

beforeAll(async () => {
  t = await startTestHub()
  a = await createTenantWithAdmin(t, 'alpha')
  b = await createTenantWithAdmin(t, 'bravo')
  for (const side of [a, b]) {
    const site = await t.request('POST', '/api/v1/sites', { token: side.token, body: { name: 'HQ' } })
    await t.request('POST', '/api/v1/cameras', {
      token: side.token,
      body: { name: 'Door', siteId: site.body.id },
    })
    await t.request('POST', '/api/v1/users', {
      token: side.token,
      body: { username: 'guard', password: USER_PASSWORD },
    })
    await t.request('POST', '/api/v1/roles', {
      token: side.token,
      body: { name: 'custom', permissions: ['camera.live'] },
    })
  }
})
afterAll(async () => {
  await t?.close()
})

/** Runs statements in one transaction as vms_app, optionally scoped to a tenant, then rolls back. */
async function asHubRole<T>(tenantId: string | null, work: (c: pg.Client) => Promise<T>): Promise<T> {
  return t.db.withAdminClient(async (c) => {
    await c.query('begin')
    try {
      await c.query('set local role vms_app')
      if (tenantId) await c.query(`select set_config('vms.tenant_id', $1, true)`, [tenantId])
      return await work(c)
    } finally {
      await c.query('rollback')
    }
  })
}

describe('row-level security', () => {
  it('runs request traffic as a role that is neither superuser nor BYPASSRLS', async () => {
    const who = await t.hub.context.db.withTenant({ tenantId: a.tenantId }, (tx) =>
      tx.execute(`select current_user as role, r.rolsuper, r.rolbypassrls
                    from pg_roles r where r.rolname = current_user`),
    )
    expect(who).toEqual([{ role: 'vms_app', rolsuper: false, rolbypassrls: false }])
    const roles = await t.db.adminQuery(
      `select rolname, rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname in ('vms_app', 'vms_system') order by 1`,
    )
    expect(roles.rows).toEqual([
      { rolname: 'vms_app', rolsuper: false, rolbypassrls: false, rolcanlogin: false },
      { rolname: 'vms_system', rolsuper: false, rolbypassrls: false, rolcanlogin: false },
    ])
  })

  it('is enabled and forced on every tenant-owned table', async () => {
    const tables = await t.db.adminQuery(
      `select relname, relrowsecurity, relforcerowsecurity from pg_class
        where relname = any($1::text[]) and relkind = 'r' order by relname`,
      [[...TENANT_TABLES, 'tenants', 'roles']],
    )
    expect(tables.rows).toHaveLength(TENANT_TABLES.length + 2)
    for (const row of tables.rows)
      expect(row, row.relname).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true })
  })

  it('shows nothing to a query without a tenant', async () => {
    await asHubRole(null, async (c) => {
      for (const table of [...TENANT_TABLES, 'tenants']) {
        const { rows } = await c.query(`select count(*)::int as n from ${table}`)
        expect(rows[0].n, table).toBe(0)
      }
      const roles = await c.query('select count(*)::int as n from roles where tenant_id is not null')
      expect(roles.rows[0]?.n).toBe(0)
    })
  })

  it("shows only the scoped tenant's rows to a query that forgets its filter", async () => {
    await asHubRole(a.tenantId, async (c) => {
      for (const table of TENANT_TABLES) {
        const { rows } = await c.query(`select distinct tenant_id from ${table}`)
        for (const row of rows) expect(row.tenant_id, table).toBe(a.tenantId)
      }
      const users = await c.query('select username from users order by username')
      expect(users.rows.map((r) => r.username)).toEqual(['alpha-admin', 'guard'])
      const tenants = await c.query('select id from tenants')
      expect(tenants.rows).toEqual([{ id: a.tenantId }])
    })
  })

  it("refuses to change or create another tenant's rows", async () => {
    await asHubRole(a.tenantId, async (c) => {
      const upd = await c.query(`update users set display_name = 'pwned' where tenant_id = $1`, [b.tenantId])
      expect(upd.rowCount).toBe(0)
      const del = await c.query('delete from sites where tenant_id = $1', [b.tenantId])
      expect(del.rowCount).toBe(0)
      await c.query('savepoint s')
      await expect(
        c.query(`insert into sites (id, tenant_id, name) values (gen_random_uuid(), $1, 'Sneaky')`, [
          b.tenantId,
        ]),
      ).rejects.toMatchObject({ code: '42501' })
      await c.query('rollback to savepoint s')
      // Moving one of our rows into the other tenant is refused too.
      await expect(
        c.query('update roles set tenant_id = $1 where tenant_id = $2', [b.tenantId, a.tenantId]),
      ).rejects.toMatchObject({ code: '42501' })
    })
    const still = await t.db.adminQuery(`select count(*)::int as n from users where display_name = 'pwned'`)
    expect(still.rows[0]?.n).toBe(0)
  })

  it('keeps built-in roles read-only and signing keys out of reach', async () => {
    await asHubRole(a.tenantId, async (c) => {
      const builtins = await c.query('select count(*)::int as n from roles where builtin')
      expect(builtins.rows[0]?.n).toBe(Object.keys(BUILTIN_ROLES).length)
      const upd = await c.query(`update roles set permissions = '{}' where builtin`)
      expect(upd.rowCount).toBe(0)
      await expect(c.query('select * from signing_keys')).rejects.toMatchObject({ code: '42501' })
    })
  })
})
