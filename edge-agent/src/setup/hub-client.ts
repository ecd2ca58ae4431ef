import { connect as tlsConnect } from 'node:tls'
import { z } from 'zod'
import { hubFetch as pinnedFetch } from '../link/hub-tls.ts'

/**
 * The wizard's calls to the hub: is it reachable, what certificate does it show, and the
 * installer's own session (signed in with their account, so what later steps change through the
 * hub's API is done, and audited, as them). Tokens live in this object only: never on disk, never
 * in a log line or an answer to the browser.
 */
export class HubError extends Error {
  constructor(
    /** The hub's HTTP status; 0: the hub could not be reached. */
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

const TIMEOUT_MS = 8000

/** A hub address as typed: http(s), no credentials, query or fragment; the trailing slash dropped. */
export function parseHubUrl(input: unknown): string | { error: string } {
  if (typeof input !== 'string' || input.trim() === '') return { error: 'Enter the hub address.' }
  if (input.length > 2000) return { error: 'The hub address is too long.' }
  let url: URL
  try {
    url = new URL(input.trim())
  } catch {
    return { error: 'The hub address is not a URL (e.g. https://vms.example.com).' }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { error: 'The hub address must start with https:// (or http://).' }
  if (url.username || url.password) return { error: 'The hub address must not hold a user name or password.' }
  if (url.search || url.hash) return { error: 'The hub address must not hold a query or fragment.' }
  return url.toString().replace(/\/+$/, '')
}

/** A call to the hub: verified by this machine's CAs, or only to the pinned certificate when enrolled with a pin. */
async function hubFetch(url: string, init: RequestInit = {}, pin?: string): Promise<Response> {
  const send = pin ? pinnedFetch({ hubPinSha256: pin }) : fetch
  try {
    return await send(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) })
  } catch (err) {
    const cause = (err as { cause?: { message?: string; code?: string } }).cause
    throw new HubError(0, `cannot reach the hub: ${cause?.code ?? cause?.message ?? (err as Error).message}`)
  }
}

/** The hub's message from an error answer ({error: {message}}), else its status. */
async function hubMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => '')
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message
    if (typeof m === 'string') return m.slice(0, 500)
  } catch {}
  return `the hub answered ${res.status}`
}

export interface HubReachability {
  reachable: boolean
  /** Why not, when it is not. */
  error?: string
}

/** Whether the hub answers its health check. */
export async function checkHub(hubUrl: string, pin?: string): Promise<HubReachability> {
  try {
    const res = await hubFetch(`${hubUrl}/healthz`, {}, pin)
    await res.body?.cancel()
    if (res.status >= 500) return { reachable: false, error: `the hub answered ${res.status}` }
    return { reachable: true }
  } catch (err) {
    return { reachable: false, error: (err as Error).message }
  }
}

export interface HubCertificate {
  /** SHA-256, colon-separated hex. */
  fingerprint: string
  subject: string
  /** Whether this machine's trusted CAs vouch for it, for this name. */
  verified: boolean
  error?: string
}

/** The certificate an https hub shows (null for http). */
export function hubCertificate(hubUrl: string): Promise<HubCertificate | null> {
  const url = new URL(hubUrl)
  if (url.protocol !== 'https:') return Promise.resolve(null)
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname,
      rejectUnauthorized: false,
      timeout: TIMEOUT_MS,
    })
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      socket.end()
      resolve({
        fingerprint: cert.fingerprint256,
        subject: cert.subject?.CN ? String(cert.subject.CN) : '',
        verified: socket.authorized,
        ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}),
      })
    })
    socket.once('timeout', () => {
      socket.destroy()
      reject(new HubError(0, 'cannot reach the hub: timed out'))
    })
    socket.once('error', (err) => reject(new HubError(0, `cannot reach the hub: ${err.message}`)))
  })
}

const tokens = z.object({ accessToken: z.string(), refreshToken: z.string(), expiresIn: z.number() })
const me = z.object({
  id: z.string(),
  username: z.string(),
  displayName: z.string().nullable(),
  tenantId: z.string(),
  tenantSlug: z.string(),
  permissions: z.array(z.string()),
  bindings: z.array(
    z.object({
      role: z.object({ name: z.string() }),
      scope: z.object({ type: z.string(), id: z.string().optional() }),
    }),
  ),
})
const site = z.object({ id: z.string(), name: z.string() })

/** Who is signed in, as the wizard shows it. */
export interface Installer {
  username: string
  displayName: string | null
  tenant: string
  site: { id: string; name: string }
  /** The roles bound at this site (or tenant-wide). */
  roles: string[]
}

/** Permissions the later steps use; an account without them at the agent's site is refused. */
export const INSTALLER_NEEDS = ['camera.manage'] as const

export class HubSession {
  #access: string
  #refresh: string
  #expiresAt: number

  private constructor(
    readonly hubUrl: string,
    t: z.infer<typeof tokens>,
    readonly installer: Installer,
    /** The hub certificate's pin, when the agent enrolled with one. */
    private readonly pin: string | undefined,
  ) {
    this.#access = t.accessToken
    this.#refresh = t.refreshToken
    this.#expiresAt = Date.now() + t.expiresIn * 1000
  }

  /**
   * Signs in with the installer's account and checks it may set up this agent's site: the same
   * tenant, and a binding at the site (or tenant-wide) granting what the later steps need.
   */
  static async login(
    hubUrl: string,
    agent: { tenantId: string; siteId: string; hubPinSha256?: string | null | undefined },
    body: { tenant: string; username: string; password: string },
  ): Promise<HubSession> {
    const pin = agent.hubPinSha256 ?? undefined
    const res = await hubFetch(
      `${hubUrl}/api/v1/auth/login`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
      pin,
    )
    if (res.status !== 200) throw new HubError(res.status, await hubMessage(res))
    const t = tokens.parse(await res.json())
    const auth = { authorization: `Bearer ${t.accessToken}` }
    const who = await hubFetch(`${hubUrl}/api/v1/me`, { headers: auth }, pin)
    if (who.status !== 200) throw new HubError(who.status, await hubMessage(who))
    const m = me.parse(await who.json())
    const logoutQuietly = () => void HubSession.revoke(hubUrl, t.refreshToken, pin)
    if (m.tenantId !== agent.tenantId) {
      logoutQuietly()
      throw new HubError(403, "This account belongs to another tenant than this agent's site.")
    }
    const here = m.bindings.filter(
      (b) => b.scope.type === 'tenant' || (b.scope.type === 'site' && b.scope.id === agent.siteId),
    )
    if (here.length === 0 || !INSTALLER_NEEDS.every((p) => m.permissions.includes(p))) {
      logoutQuietly()
      throw new HubError(
        403,
        "This account may not set up this agent's site: it needs the installer role (or one that manages cameras) at the site.",
      )
    }
    const s = await hubFetch(
      `${hubUrl}/api/v1/sites/${encodeURIComponent(agent.siteId)}`,
      { headers: auth },
      pin,
    )
    if (s.status !== 200) {
      logoutQuietly()
      throw new HubError(s.status, await hubMessage(s))
    }
    const found = site.parse(await s.json())
    return new HubSession(
      hubUrl,
      t,
      {
        username: m.username,
        displayName: m.displayName,
        tenant: m.tenantSlug,
        site: { id: found.id, name: found.name },
        roles: [...new Set(here.map((b) => b.role.name))].sort(),
      },
      pin,
    )
  }

  /**
   * A call to the hub's API as the installer (the token refreshed when it is about to expire): a
   * body as JSON, or bytes as they are (application/octet-stream).
   */
  async request(method: string, path: string, body?: unknown): Promise<Response> {
    if (Date.now() > this.#expiresAt - 30_000) await this.#renew()
    const raw = body instanceof Uint8Array
    return hubFetch(
      `${this.hubUrl}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${this.#access}`,
          ...(body === undefined
            ? {}
            : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
        },
        ...(body === undefined
          ? {}
          : { body: raw ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body) }),
      },
      this.pin,
    )
  }

  async #renew(): Promise<void> {
    const res = await hubFetch(
      `${this.hubUrl}/api/v1/auth/refresh`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: this.#refresh }),
      },
      this.pin,
    )
    if (res.status !== 200) throw new HubError(401, 'The hub session ended: sign in again.')
    const t = tokens.parse(await res.json())
    this.#access = t.accessToken
    this.#refresh = t.refreshToken
    this.#expiresAt = Date.now() + t.expiresIn * 1000
  }

  /** Signs out at the hub (best effort) and forgets the tokens. */
  async logout(): Promise<void> {
    const refresh = this.#refresh
    this.#access = ''
    this.#refresh = ''
    await HubSession.revoke(this.hubUrl, refresh, this.pin)
  }

  static async revoke(hubUrl: string, refreshToken: string, pin?: string): Promise<void> {
    if (!refreshToken) return
    try {
      const res = await hubFetch(
        `${hubUrl}/api/v1/auth/logout`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refreshToken }),
        },
        pin,
      )
      await res.body?.cancel()
    } catch {}
  }

  /** Never serialised with its tokens (a log line or JSON answer shows who, not how). */
  toJSON(): Installer {
    return this.installer
  }
}
