import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import type { Redis } from 'ioredis'
import { type HubConfig, loadConfig } from '../../src/config/config.ts'
import { type RunningHub, startHub } from '../../src/server.ts'
import { issueTestLicense, testVendor } from './licenses.ts'
import { createTestDatabase, type TestDatabase } from './test-database.ts'

export const ADMIN_PASSWORD = 'Initial-Root-Passphrase-42'
/** A password every test user can use: long and uncommon. */
export const USER_PASSWORD = 'Mauve-Lantern-Orbit-7731'

export interface ApiResponse<T = any> {
  status: number
  body: T
  headers: Headers
  text: string
}

export interface RequestOptions {
  token?: string
  body?: unknown
  /** Sent as is (for malformed-body tests). */
  rawBody?: string
  headers?: Record<string, string>
}

/** Captures the hub's JSON log lines. */
export class LogCapture extends Writable {
  readonly lines: string[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void) {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    done()
  }
  entries(): Record<string, any>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, any>)
  }
  text(): string {
    return this.lines.join('\n')
  }
}

export interface TestHub {
  hub: RunningHub
  db: TestDatabase
  url: string
  logs: LogCapture
  dataDir: string
  config: HubConfig
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>
  login(
    tenant: string,
    username: string,
    password: string,
  ): Promise<{ accessToken: string; refreshToken: string }>
  adminToken(): Promise<string>
  /** Stops the hub (keeping its database) and starts it again with the same settings. */
  restart(overrides?: Partial<Record<keyof HubConfig, unknown>>): Promise<void>
  close(): Promise<void>
}

export interface TestHubOptions {
  /** A Redis client for the hub (e.g. shared with a second hub). */
  redis?: Redis
  /** Use this database instead of creating one (the caller drops it). */
  db?: TestDatabase
  /** Install a generous license in the system tenant (the free tier allows one agent and site). */
  systemLicense?: boolean
}

export async function startTestHub(
  overrides: Partial<Record<keyof HubConfig, unknown>> = {},
  options: TestHubOptions = {},
): Promise<TestHub> {
  const ownDb = !options.db
  const db = options.db ?? (await createTestDatabase())
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-hub-test-'))
  const logs = new LogCapture()
  const base = {
    VMS_HTTP_PORT: 0,
    VMS_MQTT_PORT: 0,
    VMS_DATA_DIR: dataDir,
    VMS_DATABASE_URL: db.url,
    VMS_DATABASE_POOL_MAX: db.poolMax,
    VMS_MASTER_KEY: randomBytes(32).toString('base64'),
    VMS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    VMS_LOG_LEVEL: 'info',
    VMS_LICENSE_PUBLIC_KEYS: testVendor.publicKeyFile,
    ...(process.env.VMS_TEST_REDIS_URL
      ? {
          VMS_REDIS_URL: process.env.VMS_TEST_REDIS_URL,
          VMS_REDIS_KEY_PREFIX: `vmstest:${randomBytes(6).toString('hex')}:`,
        }
      : {}),
    ...overrides,
  }
  let config = loadConfig({}, base)
  const redis = options.redis
  let hub = await startHub({ config, logDestination: logs, ...(redis ? { redis } : {}) })
  let url = hub.url

  const request = async <T = any>(
    method: string,
    p: string,
    options: RequestOptions = {},
  ): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token) headers.authorization = `Bearer ${options.token}`
    let body: string | undefined
    if (options.rawBody !== undefined) body = options.rawBody
    else if (options.body !== undefined) body = JSON.stringify(options.body)
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json'
    const res = await fetch(url + p, { method, headers, ...(body !== undefined ? { body } : {}) })
    const text = await res.text()
    let parsed: unknown = text
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text)
    return { status: res.status, body: parsed as T, headers: res.headers, text }
  }

  const login = async (tenant: string, username: string, password: string) => {
    const res = await request('POST', '/api/v1/auth/login', { body: { tenant, username, password } })
    if (res.status !== 200) throw new Error(`login ${tenant}/${username} failed: ${res.status} ${res.text}`)
    return res.body as { accessToken: string; refreshToken: string }
  }

  if (options.systemLicense) {
    const { accessToken } = await login('system', 'admin', ADMIN_PASSWORD)
    const res = await request('PUT', '/api/v1/license', {
      token: accessToken,
      rawBody: await issueTestLicense({ tenant: 'system' }),
      headers: { 'content-type': 'text/plain' },
    })
    if (res.status !== 200) throw new Error(`license: ${res.text}`)
  }

  return {
    get hub() {
      return hub
    },
    db,
    get url() {
      return url
    },
    logs,
    dataDir,
    get config() {
      return config
    },
    request,
    login,
    adminToken: async () => (await login('system', 'admin', ADMIN_PASSWORD)).accessToken,
    async restart(more = {}) {
      await hub.close()
      config = loadConfig({}, { ...base, ...more })
      hub = await startHub({ config, logDestination: logs, ...(redis ? { redis } : {}) })
      url = hub.url
    },
    async close() {
      await hub.close()
      if (ownDb) await db.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Creates a tenant with a tenant-admin, as the system admin; returns ids and the admin's token. */
export async function createTenantWithAdmin(t: TestHub, slug: string) {
  const sys = await t.adminToken()
  const tenant = await t.request('POST', '/api/v1/tenants', {
    token: sys,
    body: { slug, name: `Tenant ${slug}` },
  })
  if (tenant.status !== 201) throw new Error(`tenant: ${tenant.text}`)
  const license = await t.request('PUT', `/api/v1/license?tenantId=${tenant.body.id}`, {
    token: sys,
    rawBody: await issueTestLicense({ tenant: slug }),
    headers: { 'content-type': 'text/plain' },
  })
  if (license.status !== 200) throw new Error(`license: ${license.text}`)
  const admin = await t.request('POST', '/api/v1/users', {
    token: sys,
    body: {
      username: `${slug}-admin`,
      password: USER_PASSWORD,
      email: `admin@${slug}.example`,
      tenantId: tenant.body.id,
    },
  })
  if (admin.status !== 201) throw new Error(`admin: ${admin.text}`)
  const binding = await t.request('POST', `/api/v1/users/${admin.body.id}/role-bindings`, {
    token: sys,
    body: { role: 'tenant-admin', scope: { type: 'tenant' } },
  })
  if (binding.status !== 201) throw new Error(`binding: ${binding.text}`)
  const tokens = await t.login(slug, `${slug}-admin`, USER_PASSWORD)
  return {
    tenantId: tenant.body.id as string,
    adminId: admin.body.id as string,
    token: tokens.accessToken,
    tokens,
  }
}

/** A new user of a tenant with one role binding, signed in; made with a user manager's token. */
export async function userWithRole(
  t: TestHub,
  tenantSlug: string,
  managerToken: string,
  username: string,
  role: string,
  scope: { type: string; id?: string },
): Promise<{ id: string; token: string }> {
  const u = await t.request('POST', '/api/v1/users', {
    token: managerToken,
    body: { username, password: USER_PASSWORD },
  })
  if (u.status !== 201) throw new Error(`user: ${u.text}`)
  const b = await t.request('POST', `/api/v1/users/${u.body.id}/role-bindings`, {
    token: managerToken,
    body: { role, scope },
  })
  if (b.status !== 201) throw new Error(`binding: ${b.text}`)
  const tokens = await t.login(tenantSlug, username, USER_PASSWORD)
  return { id: u.body.id as string, token: tokens.accessToken }
}
