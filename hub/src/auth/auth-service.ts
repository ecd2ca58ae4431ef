import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Database, Tx } from '../db/database.ts'
import { type User, UserSchema } from '../db/entities.ts'
import { conflict, DomainError, forbidden, gone, unauthenticated, unprocessable } from '../errors.ts'
import type { RateLimits } from '../ratelimit/rate-limits.ts'
import type { AccessTokens } from './access-tokens.ts'
import type { Mailer } from './mailer.ts'
import { hashOpaqueToken, newOpaqueToken, opaqueTokenTenant } from './opaque-tokens.ts'
import type { PasswordHasher } from './password-hasher.ts'
import { checkPassword } from './password-policy.ts'
import { revokeAllSessions, revokeFamily, revokePasswordResets } from './sessions.ts'
import { canonicalEmail, canonicalUsername, storedUsername } from './usernames.ts'

export interface ClientMeta {
  ip: string | null
  userAgent: string | null
}

export interface TokenPair {
  accessToken: string
  refreshToken: string
  tokenType: 'Bearer'
  expiresIn: number
}

export interface AuthServiceOptions {
  refreshTtlSeconds: number
  resetTtlSeconds: number
  publicUrl: string | undefined
}

export interface AuthMetrics {
  login(outcome: string): void
  refreshReuse(): void
}

const INVALID_CREDENTIALS = 'invalid tenant, username or password'

/** Tenant id for a slug, looked up before anyone is authenticated (the one pre-auth query). */
export async function tenantIdBySlug(db: Database, slug: string): Promise<string | undefined> {
  const rows: { id: string }[] = await db.withSystem((tx) =>
    tx.execute('select id from tenants where slug = ?', [slug.trim().toLowerCase()]),
  )
  return rows[0]?.id
}

/**
 * The user whose canonical username (usernames.ts) is the given name's, in the transaction's
 * tenant. SQL's `lower()` only narrows the candidates (it uses the index, and its locale may
 * equate more, e.g. İ with i); the canonical form decides, so lookup and login limit agree.
 */
export async function findUserByUsername(tx: Tx, username: string): Promise<User | null> {
  const rows: Record<string, unknown>[] = await tx.execute(
    'select * from users where lower(username) = lower(?) or lower(username) = lower(?)',
    [username, storedUsername(username)],
  )
  const wanted = canonicalUsername(username)
  const matches = rows.filter((r) => canonicalUsername(String(r.username)) === wanted)
  // Names created before canonical uniqueness could share a canonical form: an exact match wins,
  // otherwise an ambiguous name finds nobody.
  const row = matches.length === 1 ? matches[0] : matches.find((r) => r.username === storedUsername(username))
  return row ? tx.map(UserSchema, row) : null
}

/**
 * Login, refresh-token rotation with reuse detection, logout and password reset.
 *
 * Refresh tokens form families: a login starts one, every refresh marks the presented token used
 * and issues its child. Presenting a used token means it was copied: the whole family is revoked.
 */
export interface AuthServiceDeps {
  db: Database
  hasher: PasswordHasher
  tokens: AccessTokens
  mailer: Mailer
  audit: AuditLog
  logger: Logger
  metrics: AuthMetrics
  limits: RateLimits
}

export class AuthService {
  private readonly db: Database
  private readonly hasher: PasswordHasher
  private readonly tokens: AccessTokens
  private readonly mailer: Mailer
  private readonly audit: AuditLog
  private readonly logger: Logger
  private readonly metrics: AuthMetrics
  private readonly limits: RateLimits
  /** Work started after the answer went out (password-reset requests), awaited at shutdown. */
  private readonly background = new Set<Promise<void>>()

  constructor(
    deps: AuthServiceDeps,
    private readonly options: AuthServiceOptions,
  ) {
    this.db = deps.db
    this.hasher = deps.hasher
    this.tokens = deps.tokens
    this.mailer = deps.mailer
    this.audit = deps.audit
    this.logger = deps.logger
    this.metrics = deps.metrics
    this.limits = deps.limits
  }

  private async newRefreshToken(
    tx: Tx,
    user: { id: string; tenantId: string },
    familyId: string,
    parentId: string | null,
    meta: ClientMeta,
  ): Promise<string> {
    const { token, hash } = newOpaqueToken(user.tenantId)
    await tx.execute(
      `insert into refresh_tokens (id, tenant_id, user_id, family_id, parent_id, token_hash, expires_at, client_ip, user_agent)
       values (?, ?, ?, ?, ?, ?, now() + make_interval(secs => ?), ?, ?)`,
      [
        randomUUID(),
        user.tenantId,
        user.id,
        familyId,
        parentId,
        hash,
        this.options.refreshTtlSeconds,
        meta.ip,
        meta.userAgent?.slice(0, 500) ?? null,
      ],
    )
    return token
  }

  private async pair(user: { id: string; tenantId: string; sessionVersion: number }, refreshToken: string) {
    // Outside any transaction: signing may reload keys through the database.
    const access = await this.tokens.issue({
      userId: user.id,
      tenantId: user.tenantId,
      sessionVersion: user.sessionVersion,
    })
    return {
      accessToken: access.token,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: access.expiresIn,
    } as const
  }

  async login(
    input: { tenant: string; username: string; password: string },
    meta: ClientMeta,
  ): Promise<TokenPair> {
    try {
      await this.limits.assertLoginAllowed(input.tenant, input.username, meta.ip)
    } catch (err) {
      this.metrics.login('rate_limited')
      throw err
    }
    const tenantId = await tenantIdBySlug(this.db, input.tenant)
    const user = tenantId
      ? await this.db.withTenant({ tenantId }, (tx) => findUserByUsername(tx, input.username))
      : null
    const fail = async (
      reason: string,
      error: DomainError = unauthenticated(INVALID_CREDENTIALS, 'invalid_credentials'),
    ) => {
      this.metrics.login(reason)
      const exhausted =
        reason === 'disabled' ? [] : await this.limits.loginFailed(input.tenant, input.username, meta.ip)
      if (exhausted.length > 0) {
        await this.audit.record({
          action: 'auth.login.lockout',
          outcome: 'denied',
          tenantId: tenantId ?? null,
          actor: { type: 'user', id: user?.id ?? null, name: input.username.slice(0, 100) },
          target: { type: 'user', id: user?.id ?? null },
          reason: `failed-login limit reached for ${exhausted.join(' and ')}`,
          clientIp: meta.ip,
          userAgent: meta.userAgent,
          details: { limits: exhausted, tenant: input.tenant.slice(0, 63) },
        })
      }
      await this.audit.record({
        action: 'auth.login.failure',
        outcome: 'failure',
        tenantId: tenantId ?? null,
        actor: { type: 'user', id: user?.id ?? null, name: input.username.slice(0, 100) },
        target: { type: 'user', id: user?.id ?? null },
        reason,
        clientIp: meta.ip,
        userAgent: meta.userAgent,
        details: { tenant: input.tenant.slice(0, 63) },
      })
      return error
    }
    if (!tenantId || !user) {
      await this.hasher.verifyDummy(input.password)
      throw await fail(tenantId ? 'unknown_user' : 'unknown_tenant')
    }
    if (!(await this.hasher.verify(user.passwordHash, input.password))) throw await fail('bad_password')
    if (user.disabled) throw await fail('disabled', forbidden('this account is disabled', 'account_disabled'))

    const upgradedHash = this.hasher.needsRehash(user.passwordHash)
      ? await this.hasher.hash(input.password)
      : null
    const refreshToken = await this.db.withTenant({ tenantId }, async (tx) => {
      await tx.execute(
        `update users set last_login_at = now()${upgradedHash ? ', password_hash = ?' : ''} where id = ?`,
        upgradedHash ? [upgradedHash, user.id] : [user.id],
      )
      return this.newRefreshToken(tx, user, randomUUID(), null, meta)
    })
    this.metrics.login('success')
    await this.audit.record({
      action: 'auth.login.success',
      outcome: 'success',
      tenantId,
      actor: { type: 'user', id: user.id, name: user.username },
      target: { type: 'user', id: user.id },
      clientIp: meta.ip,
      userAgent: meta.userAgent,
      ...(upgradedHash ? { details: { passwordHashUpgraded: true } } : {}),
    })
    return this.pair(user, refreshToken)
  }

  async refresh(token: string, meta: ClientMeta): Promise<TokenPair> {
    const invalid = unauthenticated(
      'the refresh token is invalid, expired or revoked',
      'invalid_refresh_token',
    )
    const tenantId = opaqueTokenTenant(token)
    if (!tenantId) throw invalid
    type Outcome =
      | { kind: 'ok'; user: User; refreshToken: string }
      | { kind: 'invalid' }
      | { kind: 'reuse'; userId: string; familyId: string; revoked: number }
    const outcome = await this.db.withTenant({ tenantId }, async (tx): Promise<Outcome> => {
      const rows: {
        id: string
        user_id: string
        family_id: string
        used_at: Date | null
        revoked_at: Date | null
        expired: boolean
      }[] = await tx.execute(
        `select id, user_id, family_id, used_at, revoked_at, expires_at <= now() as expired
           from refresh_tokens where token_hash = ? for update`,
        [hashOpaqueToken(token)],
      )
      const row = rows[0]
      if (!row || row.revoked_at || row.expired) return { kind: 'invalid' }
      if (row.used_at) {
        const revoked = await revokeFamily(tx, row.family_id, 'reuse')
        return { kind: 'reuse', userId: row.user_id, familyId: row.family_id, revoked }
      }
      const user = await tx.findOne(UserSchema, { id: row.user_id })
      if (!user || user.disabled) {
        await revokeFamily(tx, row.family_id, 'user_disabled')
        return { kind: 'invalid' }
      }
      await tx.execute('update refresh_tokens set used_at = now() where id = ?', [row.id])
      const refreshToken = await this.newRefreshToken(tx, user, row.family_id, row.id, meta)
      return { kind: 'ok', user, refreshToken }
    })
    if (outcome.kind === 'reuse') {
      this.metrics.refreshReuse()
      await this.audit.record({
        action: 'auth.refresh.reuse',
        outcome: 'denied',
        tenantId,
        actor: { type: 'user', id: outcome.userId },
        target: { type: 'refresh_token_family', id: outcome.familyId },
        reason: 'a rotated refresh token was presented again; the family was revoked',
        clientIp: meta.ip,
        userAgent: meta.userAgent,
        details: { revokedTokens: outcome.revoked },
      })
      throw invalid
    }
    if (outcome.kind === 'invalid') throw invalid
    return this.pair(outcome.user, outcome.refreshToken)
  }

  async logout(token: string, meta: ClientMeta): Promise<void> {
    const tenantId = opaqueTokenTenant(token)
    if (!tenantId) return
    const result = await this.db.withTenant({ tenantId }, async (tx) => {
      const rows: { family_id: string; user_id: string }[] = await tx.execute(
        'select family_id, user_id from refresh_tokens where token_hash = ?',
        [hashOpaqueToken(token)],
      )
      const row = rows[0]
      if (!row) return undefined
      await revokeFamily(tx, row.family_id, 'logout')
      return row
    })
    if (result) {
      await this.audit.record({
        action: 'auth.logout',
        outcome: 'success',
        tenantId,
        actor: { type: 'user', id: result.user_id },
        target: { type: 'refresh_token_family', id: result.family_id },
        clientIp: meta.ip,
        userAgent: meta.userAgent,
      })
    }
  }

  /**
   * Answers the same way, and after the same work, whether or not the account exists: only the
   * rate limits (keyed by what the client sent, never by what exists) run before the answer; the
   * lookup, the token, the audit record and the mail run in the background. An earlier link stays
   * valid until it expires or any link is used, so a stranger's request cannot cancel the owner's.
   */
  async requestPasswordReset(input: { tenant: string; email: string }, meta: ClientMeta): Promise<void> {
    await this.limits.passwordResetRequested(input.tenant, input.email, meta.ip)
    this.inBackground(() => this.issuePasswordReset(input, meta), 'password-reset request failed')
  }

  /** Resolves once the background work started so far has ended (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background])
  }

  private inBackground(work: () => Promise<void>, failure: string): void {
    const p: Promise<void> = Promise.resolve()
      .then(work)
      .catch((err: unknown) => this.logger.error({ err }, failure))
      .finally(() => this.background.delete(p))
    this.background.add(p)
  }

  private async issuePasswordReset(
    input: { tenant: string; email: string },
    meta: ClientMeta,
  ): Promise<void> {
    const tenantId = await tenantIdBySlug(this.db, input.tenant)
    if (!tenantId) return
    const found = await this.db.withTenant({ tenantId }, async (tx) => {
      const rows: Record<string, unknown>[] = await tx.execute(
        'select * from users where lower(email) = lower(?) and not disabled',
        [input.email.trim()],
      )
      // The database's lower() may equate look-alikes (İ and i); the canonical form decides.
      const wanted = canonicalEmail(input.email)
      const matches = rows.filter((r) => typeof r.email === 'string' && canonicalEmail(r.email) === wanted)
      const [match] = matches
      if (!match || matches.length !== 1) return undefined
      const user = tx.map(UserSchema, match)
      const { token, hash } = newOpaqueToken(tenantId)
      await tx.execute(
        `insert into password_reset_tokens (id, tenant_id, user_id, token_hash, expires_at)
         values (?, ?, ?, ?, now() + make_interval(secs => ?))`,
        [randomUUID(), tenantId, user.id, hash, this.options.resetTtlSeconds],
      )
      return { user, token }
    })
    if (!found?.user.email) return
    await this.audit.record({
      action: 'auth.password_reset.request',
      outcome: 'success',
      tenantId,
      actor: { type: 'user', id: found.user.id, name: found.user.username },
      target: { type: 'user', id: found.user.id },
      clientIp: meta.ip,
      userAgent: meta.userAgent,
    })
    const minutes = Math.round(this.options.resetTtlSeconds / 60)
    const link = this.options.publicUrl
      ? `${this.options.publicUrl.replace(/\/$/, '')}/reset-password#token=${encodeURIComponent(found.token)}`
      : undefined
    const text = [
      `A password reset was requested for ${found.user.username} (tenant ${input.tenant}).`,
      '',
      link ? `Open ${link}` : 'Use this one-time token with POST /api/v1/auth/password-reset/confirm:',
      link ? '' : found.token,
      `It expires in ${minutes} minutes and works once. If you did not ask for it, ignore this mail.`,
    ].join('\n')
    await this.mailer.send({ to: found.user.email, subject: 'TS-VMS password reset', text })
  }

  /**
   * Tells a user's previous address that it is no longer theirs, so a takeover by e-mail change
   * does not go unnoticed. In the background: the change itself is already committed.
   */
  notifyEmailChanged(
    user: { id: string; username: string },
    oldEmail: string,
    newEmail: string | null,
  ): void {
    const text = [
      `The e-mail address of the TS-VMS account ${user.username} was changed`,
      newEmail ? `from this address to ${newEmail}.` : 'and this address removed from it.',
      '',
      'Password-reset mail now goes to the new address. If you did not make this change, contact your',
      'administrator at once.',
    ].join('\n')
    this.inBackground(
      () => this.mailer.send({ to: oldEmail, subject: 'TS-VMS e-mail address changed', text }),
      'could not send the e-mail-change notice',
    )
  }

  async confirmPasswordReset(input: { token: string; password: string }, meta: ClientMeta): Promise<void> {
    const tenantId = opaqueTokenTenant(input.token)
    const invalid = new DomainError('invalid', 'invalid_token', 'the reset token is not valid')
    if (!tenantId) throw invalid
    const hash = hashOpaqueToken(input.token)
    const lookup = async (tx: Tx, lock: boolean) => {
      const rows: { id: string; user_id: string; used: boolean; expired: boolean }[] = await tx.execute(
        `select id, user_id, used_at is not null as used, expires_at <= now() as expired
           from password_reset_tokens where token_hash = ?${lock ? ' for update' : ''}`,
        [hash],
      )
      const row = rows[0]
      if (!row) throw invalid
      if (row.used) throw gone('the reset token has already been used', 'token_used')
      if (row.expired) throw gone('the reset token has expired', 'token_expired')
      return row
    }
    const user = await this.db.withTenant({ tenantId }, async (tx) => {
      const row = await lookup(tx, false)
      const u = await tx.findOne(UserSchema, { id: row.user_id })
      if (!u) throw invalid
      return u
    })
    const problems = checkPassword(input.password, { username: user.username, email: user.email })
    if (problems.length > 0) {
      throw unprocessable(`the password ${problems.join(' and ')}`, 'weak_password', problems)
    }
    const passwordHash = await this.hasher.hash(input.password)
    await this.db.withTenant({ tenantId }, async (tx) => {
      const row = await lookup(tx, true)
      if (row.user_id !== user.id) throw conflict('the reset token changed hands')
      await tx.execute('update password_reset_tokens set used_at = now() where id = ?', [row.id])
      // Requests never cancel each other's links (a stranger's must not cancel the owner's); using
      // one ends them all.
      await revokePasswordResets(tx, user.id)
      await tx.execute('update users set password_hash = ?, updated_at = now() where id = ?', [
        passwordHash,
        user.id,
      ])
      await revokeAllSessions(tx, user.id, 'password_reset')
    })
    await this.audit.record({
      action: 'auth.password_reset.confirm',
      outcome: 'success',
      tenantId,
      actor: { type: 'user', id: user.id, name: user.username },
      target: { type: 'user', id: user.id },
      clientIp: meta.ip,
      userAgent: meta.userAgent,
    })
  }
}
