import { randomUUID } from 'node:crypto'
import type { Context } from 'koa'
import { checkPassword } from '../../auth/password-policy.ts'
import { revokeAllSessions, revokePasswordResets } from '../../auth/sessions.ts'
import { canonicalUsername, storedUsername, USERNAME_PATTERN } from '../../auth/usernames.ts'
import type { Tx } from '../../db/database.ts'
import { type User, UserSchema } from '../../db/entities.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import { assertMayManageUser } from '../../rbac/escalation.ts'
import { loadPrincipal, type Principal } from '../../rbac/principal.ts'
import { assertNotLastAdmin, lockTenant } from '../../services/admin-guard.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { userDto } from '../dto.ts'
import { conflict, forbidden, notFound, unprocessable } from '../errors.ts'
import { idParams, page, paginationQuery, tenantFilter, user, userCreate, userUpdate } from '../schemas.ts'
import { targetTenant } from './tenants.ts'

export const managesUsers = (p: Principal, tenantId: string) =>
  can(p, 'user.manage', { type: 'tenant', tenantId })

/** A user the principal may see (themself, or anyone if they manage users), or 404. */
export async function visibleUser(tx: Tx, principal: Principal, id: string): Promise<User> {
  const found = await tx.findOne(UserSchema, { id })
  if (!found || (found.id !== principal.userId && !managesUsers(principal, found.tenantId)))
    throw notFound('user')
  return found
}

/**
 * A user manager may act on another user only if it holds every permission that user holds
 * (403 `privilege_escalation`), the rule for granting applied to the person: resetting someone's
 * password or e-mail is becoming them. Acting on yourself is governed by re-authentication.
 */
export async function assertMayManage(
  tx: Tx,
  principal: Principal,
  target: User,
  systemTenantId: string,
): Promise<void> {
  if (target.id === principal.userId) return
  const holder = await loadPrincipal(tx, target.id, systemTenantId)
  if (holder) assertMayManageUser(principal, holder)
}

/** The username as stored (NFKC), or 422 if NFKC turned it into something a username may not be. */
function normalUsername(name: string): string {
  const stored = storedUsername(name)
  if (!USERNAME_PATTERN.test(stored)) {
    throw unprocessable('letters, digits and . _ @ + - only (after Unicode NFKC)', 'invalid_username')
  }
  return stored
}

function assertPasswordPolicy(password: string, context: { username: string; email?: string | null }) {
  const problems = checkPassword(password, context)
  if (problems.length > 0)
    throw unprocessable(`the password ${problems.join(' and ')}`, 'weak_password', problems)
}

async function assertUnique(
  tx: Tx,
  tenantId: string,
  fields: { username?: string; email?: string | null },
  exceptId?: string,
) {
  if (fields.username !== undefined) {
    // Taken if the canonical forms are equal (the login lookup's rule), or if the database's
    // lower() equates them (its unique index does): no two users reachable by one spelling. The
    // canonical form is not computable in SQL, hence a pass over the tenant's users; creating
    // users is rare and callers hold the tenant's lock, so two look-alikes cannot race in.
    const wanted = canonicalUsername(fields.username)
    const rows: { id: string; username: string; same: boolean }[] = await tx.execute(
      'select id, username, lower(username) = lower(?) as same from users where tenant_id = ?',
      [fields.username, tenantId],
    )
    if (rows.some((r) => r.id !== exceptId && (r.same || canonicalUsername(r.username) === wanted)))
      throw conflict(`username "${fields.username}" is taken`, 'already_exists')
  }
  if (fields.email) {
    const rows: { id: string }[] = await tx.execute(
      'select id from users where tenant_id = ? and lower(email) = lower(?)',
      [tenantId, fields.email],
    )
    if (rows.some((r) => r.id !== exceptId))
      throw conflict('another user has this email address', 'already_exists')
  }
}

export function registerUserRoutes(api: Api, hub: HubContext): void {
  const audit = (ctx: Context, p: Principal, action: string, u: User, details?: Record<string, unknown>) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: u.tenantId,
      ...auditSource(ctx, p),
      target: { type: 'user', id: u.id },
      details: { username: u.username, ...details },
    })

  api.route({
    method: 'get',
    path: '/api/v1/users',
    tag: 'users',
    auth: 'user',
    summary: 'List users (everyone in the tenant with user.manage; otherwise only yourself)',
    query: paginationQuery.extend(tenantFilter.shape),
    responses: { 200: { description: 'Users', schema: page(user) } },
    async handler(ctx, { query, principal }) {
      const where: Record<string, unknown> = {}
      if (query.tenantId) where.tenantId = query.tenantId
      if (!principal.isSystemAdmin && !managesUsers(principal, principal.tenantId))
        where.id = principal.userId
      const [items, total] = await hub.db.withTenant(scopeOf(principal), (tx) =>
        tx.findAndCount(UserSchema, where, {
          orderBy: { username: 'asc', id: 'asc' },
          limit: query.limit,
          offset: query.offset,
        }),
      )
      ctx.body = { items: items.map(userDto), total }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/users',
    tag: 'users',
    auth: 'user',
    summary: 'Create a user (tenantId: system-admins only)',
    body: userCreate,
    responses: { 201: { description: 'Created', schema: user } },
    async handler(ctx, { body: raw, principal }) {
      const body = { ...raw, username: normalUsername(raw.username) }
      const tenantId = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const id = await targetTenant(tx, principal, body.tenantId)
        if (!managesUsers(principal, id)) throw forbidden()
        await assertUnique(tx, id, body)
        return id
      })
      assertPasswordPolicy(body.password, { username: body.username, email: body.email ?? null })
      const passwordHash = await hub.hasher.hash(body.password)
      const created = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        await lockTenant(tx, tenantId)
        await assertUnique(tx, tenantId, body)
        if (!body.disabled) await hub.licensing.assertCanAdd(tx, tenantId, 'users')
        const u = tx.create(UserSchema, {
          id: randomUUID(),
          tenantId,
          username: body.username,
          email: body.email ?? null,
          displayName: body.displayName ?? null,
          passwordHash,
          disabled: body.disabled ?? false,
          sessionVersion: 0,
          lastLoginAt: null,
        } as User)
        await tx.flush()
        return u
      })
      await audit(ctx, principal, 'user.create', created)
      ctx.status = 201
      ctx.body = userDto(created)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/users/:id',
    tag: 'users',
    auth: 'user',
    summary: 'Get a user',
    params: idParams,
    responses: { 200: { description: 'The user', schema: user } },
    async handler(ctx, { params, principal }) {
      ctx.body = userDto(
        await hub.db.withTenant(scopeOf(principal), (tx) => visibleUser(tx, principal, params.id)),
      )
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/users/:id',
    tag: 'users',
    auth: 'user',
    summary:
      'Update a user; users may change their own display name, and their e-mail and password with currentPassword',
    description:
      'Setting a password or disabling the user ends all of their sessions; changing the e-mail sends a notice ' +
      'to the old address. You cannot disable yourself, nor the last active tenant-admin or system-admin (409), ' +
      'nor change a user who holds a permission you do not hold (403 privilege_escalation).',
    params: idParams,
    body: userUpdate,
    responses: { 200: { description: 'The updated user', schema: user } },
    async handler(ctx, { params, body: raw, principal }) {
      const body = raw.username === undefined ? raw : { ...raw, username: normalUsername(raw.username) }
      // Checks that need no lock, and the password hash, before the writing transaction.
      const before = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const u = await visibleUser(tx, principal, params.id)
        await assertMayManage(tx, principal, u, hub.systemTenantId)
        return u
      })
      const isSelf = before.id === principal.userId
      const isAdmin = managesUsers(principal, before.tenantId)
      if (!isAdmin && (body.username !== undefined || body.disabled !== undefined)) {
        throw forbidden('only user administrators can change the username or disabled flag')
      }
      if (isSelf && body.disabled === true) throw conflict('you cannot disable yourself', 'self_disable')
      const emailChanging = body.email !== undefined && body.email !== before.email
      // Your password and your e-mail (where reset links go) are the keys to your account: a stolen
      // access token alone must not be enough to change them.
      if (isSelf && (body.password !== undefined || emailChanging)) {
        if (body.currentPassword === undefined) {
          throw unprocessable(
            'changing your own password or e-mail needs currentPassword',
            'current_password_required',
          )
        }
        await hub.limits.assertReauthAllowed(before.id)
        if (!(await hub.hasher.verify(before.passwordHash, body.currentPassword))) {
          await hub.limits.reauthFailed(before.id)
          throw forbidden('currentPassword is wrong', 'current_password_mismatch')
        }
      }
      let passwordHash: string | undefined
      if (body.password !== undefined) {
        assertPasswordPolicy(body.password, {
          username: body.username ?? before.username,
          email: body.email === undefined ? before.email : body.email,
        })
        passwordHash = await hub.hasher.hash(body.password)
      }

      const { updated, oldEmail } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const u = await visibleUser(tx, principal, params.id)
        // Again under the write: a binding may have been added since the check above.
        await assertMayManage(tx, principal, u, hub.systemTenantId)
        const oldEmail = u.email
        const disabling = body.disabled === true && !u.disabled
        if (body.disabled === false && u.disabled) {
          // Re-enabling takes a licensed seat again.
          await lockTenant(tx, u.tenantId)
          await hub.licensing.assertCanAdd(tx, u.tenantId, 'users')
        }
        if (disabling) {
          await lockTenant(tx, u.tenantId)
          await assertNotLastAdmin(tx, u.tenantId, u.id, 'disable')
        }
        if (body.username !== undefined) await lockTenant(tx, u.tenantId)
        await assertUnique(tx, u.tenantId, { username: body.username, email: body.email }, u.id)
        if (body.username !== undefined) u.username = body.username
        if (body.email !== undefined) u.email = body.email
        if (body.displayName !== undefined) u.displayName = body.displayName
        if (body.disabled !== undefined) u.disabled = body.disabled
        if (passwordHash) u.passwordHash = passwordHash
        await tx.flush()
        if (disabling || passwordHash) {
          await revokeAllSessions(tx, u.id, disabling ? 'user_disabled' : 'password_changed')
        }
        // A reset link mailed before is for the old password or the old address: no longer valid.
        if (passwordHash || u.email !== oldEmail) await revokePasswordResets(tx, u.id)
        return { updated: u, oldEmail }
      })
      if (oldEmail && updated.email !== oldEmail) {
        hub.auth.notifyEmailChanged(updated, oldEmail, updated.email)
      }
      const fields = Object.keys(body).filter((k) => k !== 'currentPassword')
      await audit(ctx, principal, 'user.update', updated, { fields })
      if (passwordHash)
        await audit(ctx, principal, isSelf ? 'user.password.change' : 'user.password.reset', updated)
      ctx.body = userDto(updated)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/users/:id',
    tag: 'users',
    auth: 'user',
    summary: 'Delete a user (not yourself, not the last admin, not one who holds permissions you do not)',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, principal }) {
      const deleted = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const u = await visibleUser(tx, principal, params.id)
        if (!managesUsers(principal, u.tenantId)) throw forbidden()
        if (u.id === principal.userId) throw conflict('you cannot delete yourself', 'self_delete')
        await assertMayManage(tx, principal, u, hub.systemTenantId)
        await lockTenant(tx, u.tenantId)
        await assertNotLastAdmin(tx, u.tenantId, u.id, 'delete')
        await tx.execute('delete from users where id = ?', [u.id])
        return u
      })
      await audit(ctx, principal, 'user.delete', deleted)
      ctx.status = 204
    },
  })
}
