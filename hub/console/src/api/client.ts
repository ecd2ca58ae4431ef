import type {
  Alarm,
  AlarmPage,
  AlarmQuery,
  AlarmRule,
  AlarmRuleCreate,
  AlarmRuleUpdate,
} from './alarm-types.ts'
import type { Case, CaseChange, CaseNote, CasePage, NewCase } from './case-types.ts'
import type { EvidenceLock, EvidenceLockPage, EvidenceLockState, NewEvidenceLock } from './evidence-types.ts'
import type {
  NotificationChannel,
  NotificationChannelCreate,
  NotificationChannelUpdate,
  NotificationDelivery,
  NotificationDeliveryState,
} from './notification-types.ts'

/**
 * The console's one way to the hub: a small typed client around fetch. It holds the session
 * (access and refresh tokens, kept in sessionStorage so a reload of the tab keeps the user signed
 * in, while a new tab or a closed browser starts over), refreshes the access token silently before
 * it expires and once more when a request meets 401, and turns every failure into an ApiError
 * whose message a person can read.
 */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
  }
}

interface Tokens {
  accessToken: string
  refreshToken: string
  /** Epoch milliseconds. */
  expiresAt: number
}

interface TokenResponse {
  accessToken: string
  refreshToken: string
  expiresIn: number
}

export type SessionState = 'signed-in' | 'signed-out' | 'expired'

export type Query = Record<string, string | number | boolean | undefined | null>

export interface RequestOptions {
  query?: Query
  body?: unknown
  signal?: AbortSignal
}

const STORAGE_KEY = 'ts-vms.session'

/** Readable text for any error a page may meet. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const details = Array.isArray(err.details)
      ? (err.details as { path?: string; message?: string }[])
          .map((d) => (d.path ? `${d.path}: ${d.message ?? ''}` : (d.message ?? '')))
          .filter(Boolean)
      : []
    return details.length ? `${err.message} (${details.join('; ')})` : err.message
  }
  if (err instanceof DOMException && err.name === 'AbortError') return 'cancelled'
  if (err instanceof TypeError) return 'Cannot reach the hub. Check the network connection and try again.'
  return err instanceof Error ? err.message : String(err)
}

export function withQuery(path: string, query?: Query): string {
  if (!query) return path
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `${path}?${s}` : path
}

/** The readable error an unsuccessful response carries. */
export async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '')
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } }
    if (body.error?.message)
      return new ApiError(res.status, body.error.code ?? 'error', body.error.message, body.error.details)
  } catch {}
  const fallback: Record<number, string> = {
    401: 'Your session has ended. Sign in again.',
    403: 'You are not allowed to do that.',
    404: 'Not found, or not visible to you.',
    429: 'Too many requests. Wait a moment and try again.',
    502: 'The hub could not reach the site.',
    503: 'The service is unavailable right now. Try again shortly.',
    504: 'The site did not answer in time.',
  }
  return new ApiError(res.status, 'http_error', fallback[res.status] ?? `The hub answered ${res.status}.`)
}

export class ApiClient {
  private tokens: Tokens | undefined
  private refreshing: Promise<boolean> | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly listeners = new Set<() => void>()
  private readonly refreshListeners = new Set<() => void>()
  state: SessionState = 'signed-out'

  constructor(private readonly base = '') {
    try {
      const saved = sessionStorage.getItem(STORAGE_KEY)
      if (saved) {
        this.tokens = JSON.parse(saved) as Tokens
        this.state = 'signed-in'
        this.schedule()
      }
    } catch {}
  }

  /** The current access token, for players that authenticate themselves (live, playback). */
  accessToken(): string {
    return this.tokens?.accessToken ?? ''
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  getState = (): SessionState => this.state

  /** Called after each token refresh (live players renew their sessions with the new token). */
  onRefresh(listener: () => void): () => void {
    this.refreshListeners.add(listener)
    return () => this.refreshListeners.delete(listener)
  }

  private setTokens(t: TokenResponse | undefined, state: SessionState): void {
    this.tokens = t && {
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
      expiresAt: Date.now() + t.expiresIn * 1000,
    }
    try {
      if (this.tokens) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.tokens))
      else sessionStorage.removeItem(STORAGE_KEY)
    } catch {}
    this.schedule()
    if (this.state !== state) {
      this.state = state
      for (const l of this.listeners) l()
    }
  }

  /** Refreshes at 80 % of the access token's life, so requests rarely meet an expired one. */
  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.tokens) return
    const wait = Math.max(1000, (this.tokens.expiresAt - Date.now()) * 0.8)
    this.timer = setTimeout(() => void this.refresh(), Math.min(wait, 2 ** 31 - 1))
  }

  async signIn(tenant: string, username: string, password: string): Promise<void> {
    const res = await fetch(`${this.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant, username, password }),
    })
    if (!res.ok) throw await errorFrom(res)
    this.setTokens((await res.json()) as TokenResponse, 'signed-in')
  }

  async signOut(): Promise<void> {
    const refreshToken = this.tokens?.refreshToken
    this.setTokens(undefined, 'signed-out')
    if (refreshToken)
      await fetch(`${this.base}/api/v1/auth/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken }),
      }).catch(() => {})
  }

  /** Exchanges the refresh token (one at a time); false when the session is over. */
  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const refreshToken = this.tokens?.refreshToken
      if (!refreshToken) return false
      try {
        const res = await fetch(`${this.base}/api/v1/auth/refresh`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refreshToken }),
        })
        if (res.ok) {
          this.setTokens((await res.json()) as TokenResponse, 'signed-in')
          for (const l of this.refreshListeners) l()
          return true
        }
        if (res.status === 400 || res.status === 401) {
          this.setTokens(undefined, 'expired')
          return false
        }
      } catch {}
      // The hub is unreachable for now: keep the session and try again shortly.
      if (this.timer !== undefined) clearTimeout(this.timer)
      this.timer = setTimeout(() => void this.refresh(), 5000)
      return this.tokens !== undefined
    })().finally(() => {
      this.refreshing = undefined
    })
    return this.refreshing
  }

  /** A request with the session's token; one silent refresh and retry on 401. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const send = () =>
      fetch(`${this.base}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          authorization: `Bearer ${this.accessToken()}`,
        },
      })
    let res = await send()
    if (res.status === 401 && this.tokens) {
      if (await this.refresh()) res = await send()
      else this.setTokens(undefined, 'expired')
    }
    if (res.status === 401 && this.state === 'signed-in') this.setTokens(undefined, 'expired')
    return res
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.fetch(withQuery(path, o.query), {
      method,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(o.body) }),
    })
    if (!res.ok) throw await errorFrom(res)
    if (res.status === 204) return undefined as T
    const type = res.headers.get('content-type') ?? ''
    return (type.includes('json') ? await res.json() : await res.text()) as T
  }

  /** A request whose body is text of its own type (a CSV upload), not JSON. */
  async sendText<T>(method: string, path: string, text: string, contentType: string): Promise<T> {
    const res = await this.fetch(path, { method, headers: { 'content-type': contentType }, body: text })
    if (!res.ok) throw await errorFrom(res)
    return (await res.json()) as T
  }

  /** A request whose body is raw bytes of their own type (a model upload), with the options in the query. */
  async sendBytes<T>(
    method: string,
    path: string,
    body: Blob,
    contentType: string,
    query?: Query,
  ): Promise<T> {
    const res = await this.fetch(withQuery(path, query), {
      method,
      headers: { 'content-type': contentType },
      body,
    })
    if (!res.ok) throw await errorFrom(res)
    return (await res.json()) as T
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) })
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body: body ?? {} })
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body })
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body })
  }
  delete<T = void>(path: string): Promise<T> {
    return this.request<T>('DELETE', path)
  }
}

export const api = new ApiClient()

// Alarms and alarm rules (issue 16).

export const alarmsApi = {
  list: (query: AlarmQuery, signal?: AbortSignal) =>
    api.get<AlarmPage>('/api/v1/alarms', { ...query }, signal),
  acknowledge: (id: string, comment: string) =>
    api.post<Alarm>(`/api/v1/alarms/${id}/acknowledge`, { comment }),
  close: (id: string, comment: string) => api.post<Alarm>(`/api/v1/alarms/${id}/close`, { comment }),
  rules: (signal?: AbortSignal) =>
    api.get<{ items: AlarmRule[]; total: number }>('/api/v1/alarm-rules', { limit: 500 }, signal),
  createRule: (body: AlarmRuleCreate) => api.post<AlarmRule>('/api/v1/alarm-rules', body),
  updateRule: (id: string, body: AlarmRuleUpdate) => api.patch<AlarmRule>(`/api/v1/alarm-rules/${id}`, body),
  deleteRule: (id: string) => api.delete(`/api/v1/alarm-rules/${id}`),
}

// Alarm notifications (issue 16): channels and their deliveries.

export const notificationsApi = {
  channels: (signal?: AbortSignal) =>
    api.get<{ items: NotificationChannel[]; total: number }>(
      '/api/v1/notification-channels',
      { limit: 500 },
      signal,
    ),
  createChannel: (body: NotificationChannelCreate) =>
    api.post<NotificationChannel>('/api/v1/notification-channels', body),
  updateChannel: (id: string, body: NotificationChannelUpdate) =>
    api.patch<NotificationChannel>(`/api/v1/notification-channels/${id}`, body),
  deleteChannel: (id: string) => api.delete(`/api/v1/notification-channels/${id}`),
  testChannel: (id: string) => api.post<{ deliveryId: string }>(`/api/v1/notification-channels/${id}/test`),
  deliveries: (
    query: { state?: NotificationDeliveryState; channelId?: string; limit?: number; offset?: number },
    signal?: AbortSignal,
  ) =>
    api.get<{ items: NotificationDelivery[]; total: number }>(
      '/api/v1/notification-deliveries',
      query,
      signal,
    ),
  retryDelivery: (id: string) =>
    api.post<NotificationDelivery>(`/api/v1/notification-deliveries/${id}/retry`),
}

/**
 * Downloads what the hub answers at `path` (with the session's token, which a plain link cannot
 * send) as a file: the name from Content-Disposition, else `fallbackName`.
 */
export async function downloadFile(
  path: string,
  fallbackName: string,
): Promise<{ file: string; bytes: number }> {
  const res = await api.fetch(path)
  if (!res.ok) throw await errorFrom(res)
  const blob = await res.blob()
  const disposition = res.headers.get('content-disposition') ?? ''
  const file = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = file
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
  return { file, bytes: blob.size }
}

/** Cases (issue 16): clips and notes kept together as evidence. */
export const casesApi = {
  list: (signal?: AbortSignal) => api.get<CasePage>('/api/v1/cases', { limit: 500 }, signal),
  get: (id: string, signal?: AbortSignal) => api.get<Case>(`/api/v1/cases/${id}`, undefined, signal),
  create: (body: NewCase) => api.post<Case>('/api/v1/cases', body),
  update: (id: string, change: CaseChange) => api.patch<Case>(`/api/v1/cases/${id}`, change),
  addNote: (id: string, text: string) => api.post<CaseNote>(`/api/v1/cases/${id}/notes`, { text }),
  retryClip: (id: string, clipId: string) => api.post<Case>(`/api/v1/cases/${id}/clips/${clipId}/retry`),
  remove: (id: string) => api.delete(`/api/v1/cases/${id}`),
  zipPath: (id: string) => `/api/v1/cases/${id}/download.zip`,
  downloadZip: (id: string) => downloadFile(`/api/v1/cases/${id}/download.zip`, `case-${id}.zip`),
}

/** Evidence locks (issue 16): recordings kept at the sites until a date, whatever the quota. */
export const evidenceApi = {
  list: (
    query: { cameraId?: string; state?: EvidenceLockState; limit?: number; offset?: number } = {},
    signal?: AbortSignal,
  ) => api.get<EvidenceLockPage>('/api/v1/evidence-locks', { limit: 500, ...query }, signal),
  get: (id: string, signal?: AbortSignal) =>
    api.get<EvidenceLock>(`/api/v1/evidence-locks/${id}`, undefined, signal),
  create: (body: NewEvidenceLock) => api.post<EvidenceLock>('/api/v1/evidence-locks', body),
  remove: (id: string) => api.delete(`/api/v1/evidence-locks/${id}`),
}
