import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { BUILTIN_ROLES, type BuiltinRoleName, SYSTEM_ADMIN_ROLE, SYSTEM_TENANT_SLUG } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { PasswordHasher } from '../auth/password-hasher.ts'
import { checkPassword } from '../auth/password-policy.ts'
import type { Database } from '../db/database.ts'
import { pgTextArray } from '../db/sql.ts'

export interface BootstrapResult {
  systemTenantId: string
  /** Set only on the start that created the first admin. */
  createdAdmin?: { username: string; passwordFile?: string }
  /**
   * On a later start: the generated password's file, while it still opens the first admin's
   * account (the password has not been changed), so the start can say where it is again.
   */
  initialPasswordFile?: string
}

export const INITIAL_ADMIN_USERNAME = 'admin'

/**
 * First start: the built-in roles (kept in step with the code on every start), the `system` tenant
 * and its `admin` with role system-admin. The admin's password comes from
 * VMS_BOOTSTRAP_ADMIN_PASSWORD, or is generated and written once to
 * `<data dir>/initial-admin-password` (mode 0600). Safe when several hubs start at once.
 */
export async function bootstrap(
  db: Database,
  hasher: PasswordHasher,
  options: { dataDir: string; adminPassword: string | undefined; logger: Logger },
): Promise<BootstrapResult> {
  if (options.adminPassword) {
    const problems = checkPassword(options.adminPassword, { username: INITIAL_ADMIN_USERNAME })
    if (problems.length > 0) {
      throw new Error(`VMS_BOOTSTRAP_ADMIN_PASSWORD: the password ${problems.join(' and ')}`)
    }
  }
  const generated = options.adminPassword ? undefined : randomBytes(18).toString('base64url')
  const password = options.adminPassword ?? (generated as string)

  const existing = await db.withSystem(async (tx) => {
    await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.bootstrap'))`)
    for (const [name, role] of Object.entries(BUILTIN_ROLES) as [
      BuiltinRoleName,
      (typeof BUILTIN_ROLES)[BuiltinRoleName],
    ][]) {
      await tx.execute(
        `insert into roles (id, tenant_id, name, description, permissions, builtin)
         values (?, null, ?, ?, ?::text[], true)
         on conflict (lower(name)) where tenant_id is null
         do update set permissions = excluded.permissions, description = excluded.description, updated_at = now()
         where roles.permissions is distinct from excluded.permissions or roles.description is distinct from excluded.description`,
        [randomUUID(), name, role.description, pgTextArray(role.permissions)],
      )
    }
    const rows: { id: string }[] = await tx.execute('select id from tenants where slug = ?', [
      SYSTEM_TENANT_SLUG,
    ])
    return rows[0]?.id
  })
  if (existing) {
    const file = await unchangedInitialPassword(db, hasher, options.dataDir, existing)
    return { systemTenantId: existing, ...(file ? { initialPasswordFile: file } : {}) }
  }

  const passwordHash = await hasher.hash(password)
  const created = await db.withSystem(async (tx) => {
    await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.bootstrap'))`)
    const again: { id: string }[] = await tx.execute('select id from tenants where slug = ?', [
      SYSTEM_TENANT_SLUG,
    ])
    if (again[0]) return { tenantId: again[0].id, created: false }
    const tenantId = randomUUID()
    const userId = randomUUID()
    await tx.execute('insert into tenants (id, slug, name) values (?, ?, ?)', [
      tenantId,
      SYSTEM_TENANT_SLUG,
      'System',
    ])
    await tx.execute(
      `insert into users (id, tenant_id, username, display_name, password_hash) values (?, ?, ?, ?, ?)`,
      [userId, tenantId, INITIAL_ADMIN_USERNAME, 'System administrator', passwordHash],
    )
    await tx.execute(
      `insert into role_bindings (id, tenant_id, user_id, role_id, scope_type)
       select ?, ?, ?, id, 'tenant' from roles where tenant_id is null and name = ?`,
      [randomUUID(), tenantId, userId, SYSTEM_ADMIN_ROLE],
    )
    return { tenantId, created: true }
  })
  if (!created.created) return { systemTenantId: created.tenantId }

  let passwordFile: string | undefined
  if (generated) {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
    passwordFile = path.join(options.dataDir, 'initial-admin-password')
    writeFileSync(passwordFile, `${generated}\n`, { mode: 0o600 })
  }
  options.logger.info(
    { tenant: SYSTEM_TENANT_SLUG, username: INITIAL_ADMIN_USERNAME, passwordFile },
    'created the first system administrator',
  )
  return {
    systemTenantId: created.tenantId,
    createdAdmin: { username: INITIAL_ADMIN_USERNAME, ...(passwordFile ? { passwordFile } : {}) },
  }
}

/**
 * The initial-admin-password file while the password in it is still the admin's. Once the admin
 * has changed it the file is stale: it is removed, so it neither misleads nor lingers on disk.
 */
async function unchangedInitialPassword(
  db: Database,
  hasher: PasswordHasher,
  dataDir: string,
  systemTenantId: string,
): Promise<string | undefined> {
  const file = path.join(dataDir, 'initial-admin-password')
  let password: string
  try {
    password = readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
  const rows: { password_hash: string | null }[] = await db.withSystem((tx) =>
    tx.execute('select password_hash from users where tenant_id = ? and username = ?', [
      systemTenantId,
      INITIAL_ADMIN_USERNAME,
    ]),
  )
  const hash = rows[0]?.password_hash
  if (password && hash && (await hasher.verify(hash, password))) return file
  rmSync(file, { force: true })
  return undefined
}
