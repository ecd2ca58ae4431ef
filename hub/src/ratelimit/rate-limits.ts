import { canonicalEmail, canonicalUsername } from '../auth/usernames.ts'
import { type DomainError, type QuotaState, rateLimited } from '../errors.ts'
import type { Decision, RateLimitRule, RateLimitStore } from './sliding-window.ts'

export interface RateLimitConfig {
  loginFailuresPerUser: number
  loginFailuresPerIp: number
  loginWindowSeconds: number
  apiPerMinute: number
  passwordResetsPerHour: number
  /** Password-reset requests per client address per hour (default 20). */
  passwordResetsPerHourPerIp?: number
  enrollmentsPerHourPerIp: number
}

export function rateLimitHeaders(d: QuotaState): Record<string, string> {
  return {
    'RateLimit-Limit': String(d.limit),
    'RateLimit-Remaining': String(d.remaining),
    'RateLimit-Reset': String(d.resetSeconds),
  }
}

/** A refusal by a limit: when to try again (never "now") and the limit's state. */
export function tooManyRequests(d: Decision, message: string): DomainError {
  return rateLimited(message, {
    retryAfterSeconds: Math.max(1, d.retryAfterSeconds),
    quota: { limit: d.limit, remaining: d.remaining, resetSeconds: d.resetSeconds },
  })
}

const norm = (s: string) => s.trim().toLowerCase()

export const DEFAULT_PASSWORD_RESETS_PER_HOUR_PER_IP = 20

/** The hub's limits, by what they protect. Keys hold no secrets (usernames and IPs only). */
export class RateLimits {
  readonly loginUser: RateLimitRule
  readonly loginIp: RateLimitRule
  readonly api: RateLimitRule
  readonly passwordReset: RateLimitRule
  readonly passwordResetIp: RateLimitRule
  readonly enroll: RateLimitRule

  constructor(
    private readonly store: RateLimitStore,
    config: RateLimitConfig,
    private readonly onReject: (rule: string) => void = () => {},
  ) {
    const loginWindow = config.loginWindowSeconds * 1000
    this.loginUser = { name: 'login-user', limit: config.loginFailuresPerUser, windowMs: loginWindow }
    this.loginIp = { name: 'login-ip', limit: config.loginFailuresPerIp, windowMs: loginWindow }
    this.api = { name: 'api-user', limit: config.apiPerMinute, windowMs: 60_000 }
    this.passwordReset = { name: 'password-reset', limit: config.passwordResetsPerHour, windowMs: 3_600_000 }
    this.passwordResetIp = {
      name: 'password-reset-ip',
      limit: config.passwordResetsPerHourPerIp ?? DEFAULT_PASSWORD_RESETS_PER_HOUR_PER_IP,
      windowMs: 3_600_000,
    }
    this.enroll = { name: 'enroll-ip', limit: config.enrollmentsPerHourPerIp, windowMs: 3_600_000 }
  }

  /**
   * The account key is the canonical username, the same form the login lookup matches by, so no
   * spelling that reaches an account (İ, the Kelvin sign, fullwidth letters) counts elsewhere.
   */
  private loginKeys(tenant: string, username: string, ip: string | null) {
    return { user: `${norm(tenant)}/${canonicalUsername(username)}`, ip: ip ?? 'unknown' }
  }

  /**
   * Before a login: refuses (429, even with the right password) while the account or the client
   * address has used up its failures in the window.
   */
  async assertLoginAllowed(tenant: string, username: string, ip: string | null): Promise<void> {
    const keys = this.loginKeys(tenant, username, ip)
    const [user, byIp] = await Promise.all([
      this.store.apply(keys.user, this.loginUser, 'peek'),
      this.store.apply(keys.ip, this.loginIp, 'peek'),
    ])
    const refused = [user, byIp].filter((d) => !d.allowed)
    if (refused.length > 0) {
      this.onReject('login')
      const worst = refused.reduce((a, b) => (a.retryAfterSeconds >= b.retryAfterSeconds ? a : b))
      throw tooManyRequests(worst, 'too many failed logins; try again later')
    }
  }

  /** Counts a failed login; tells which limits it has just exhausted (for the lockout audit). */
  async loginFailed(tenant: string, username: string, ip: string | null): Promise<('user' | 'ip')[]> {
    const keys = this.loginKeys(tenant, username, ip)
    const [user, byIp] = await Promise.all([
      this.store.apply(keys.user, this.loginUser, 'force'),
      this.store.apply(keys.ip, this.loginIp, 'force'),
    ])
    const exhausted: ('user' | 'ip')[] = []
    if (user.remaining === 0 && user.limit > 0) exhausted.push('user')
    if (byIp.remaining === 0 && byIp.limit > 0) exhausted.push('ip')
    return exhausted
  }

  /**
   * Re-authentication (`currentPassword` to change your own password or e-mail) with a stolen
   * access token must not become an unlimited password oracle: wrong answers count per user, with
   * the per-account login limit and window, and once used up every attempt answers 429.
   */
  async assertReauthAllowed(userId: string): Promise<void> {
    const d = await this.store.apply(`reauth/${userId}`, this.loginUser, 'peek')
    if (!d.allowed) {
      this.onReject('reauth')
      throw tooManyRequests(d, 'too many wrong passwords; try again later')
    }
  }

  async reauthFailed(userId: string): Promise<void> {
    await this.store.apply(`reauth/${userId}`, this.loginUser, 'force')
  }

  /** One authenticated API request of a user; throws 429 beyond the per-user limit. */
  async apiRequest(userId: string): Promise<Decision> {
    const d = await this.store.apply(userId, this.api, 'hit')
    if (!d.allowed) {
      this.onReject('api')
      throw tooManyRequests(d, 'too many requests; slow down')
    }
    return d
  }

  /** Enrollment is anonymous (the code is the credential): limited per client address. */
  async enrollAttempt(ip: string | null): Promise<void> {
    const d = await this.store.apply(ip ?? 'unknown', this.enroll, 'hit')
    if (!d.allowed) {
      this.onReject('enroll')
      throw tooManyRequests(d, 'too many enrollment attempts from this address; try again later')
    }
  }

  /**
   * Per client address first (so one address cannot probe many accounts, nor keep minting links
   * for one), then per account (tenant + canonical address, whether or not it exists).
   */
  async passwordResetRequested(tenant: string, email: string, ip: string | null): Promise<void> {
    const byIp = await this.store.apply(ip ?? 'unknown', this.passwordResetIp, 'hit')
    if (!byIp.allowed) {
      this.onReject('password-reset-ip')
      throw tooManyRequests(byIp, 'too many password-reset requests from this address; try again later')
    }
    const d = await this.store.apply(`${norm(tenant)}/${canonicalEmail(email)}`, this.passwordReset, 'hit')
    if (!d.allowed) {
      this.onReject('password-reset')
      throw tooManyRequests(d, 'too many password-reset requests for this account; try again later')
    }
  }
}
