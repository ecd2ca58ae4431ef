import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { loadConfig } from '../../hub/src/config/config.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { startHub } from '../../hub/src/server.ts'
import { issueTestLicense, testVendor } from '../../hub/test/helpers/licenses.ts'
import type { BenchResult } from '../run.ts'
import { positive } from './bench-env.ts'

/**
 * `GET /api/v1/events` over a large events table (issue 17: 10 million rows, p99 < 50 ms).
 *
 * Needs a PostgreSQL server (VMS_BENCH_DATABASE_URL; the embedded PGlite is not what a fleet of
 * this size runs on): makes a database of its own there, starts a hub on it, makes a tenant with
 * 8 sites of 8 cameras, its admin and an operator bound to one site through the API, then loads
 * VMS_BENCH_EVENTS_ROWS events (default 10,000,000) in SQL: a year of them, in time order as
 * agents deliver them, over the cameras, five types (motion, object, camera.offline/online,
 * recording.gap), a tenth in a second tenant. Then, after VACUUM ANALYZE, it times requests as a
 * console makes them (sequential, over HTTP, the hub's authentication and row-level security
 * included), p50 and p99 of VMS_BENCH_EVENTS_REQUESTS (default 200) each after a warm-up:
 * the tenant admin's newest page, a camera filter, a type filter with a month's range, the
 * site-scoped operator's newest page, a page 50 pages deep by cursor, a system admin's newest
 * page across tenants; and, for comparison, the same depth by offset (no goal). The reference is
 * GET /healthz on the same hub. The database is dropped afterwards unless VMS_BENCH_EVENTS_KEEP=1
 * (to EXPLAIN queries on it; its name is printed); VMS_BENCH_EVENTS_REUSE=<that name> measures a
 * kept database again without loading it (10 million rows take minutes to load).
 */

const PAGE = 50
const DEEP_PAGES = 50
const SITES = 8
const CAMERAS_PER_SITE = 8
const GOAL_P99_MS = 50
/** The load's events end here and go back a year. */
const END = Date.UTC(2026, 10, 1)
const SPAN_SECONDS = 365 * 24 * 3600

interface Latency {
  p50: number
  p99: number
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

/** Times `op` `count` times in a row after `warmup` untimed runs. */
async function latency(op: () => Promise<unknown>, count: number, warmup = 20): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await op()
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    await op()
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  return { p50: percentile(times, 50), p99: percentile(times, 99) }
}

export async function benchEventsQuery(): Promise<BenchResult[]> {
  const serverUrl = process.env.VMS_BENCH_DATABASE_URL
  if (!serverUrl) {
    console.warn('events-query skipped: set VMS_BENCH_DATABASE_URL to a PostgreSQL server to measure it')
    return []
  }
  const rows = Math.floor(positive('VMS_BENCH_EVENTS_ROWS', 10_000_000))
  const requests = Math.floor(positive('VMS_BENCH_EVENTS_REQUESTS', 200))
  // A database kept by an earlier run (VMS_BENCH_EVENTS_KEEP=1) is measured again as it is.
  const reuse = process.env.VMS_BENCH_EVENTS_REUSE
  if (reuse !== undefined && !/^vms_bench_events_[0-9a-f]{8}$/.test(reuse))
    throw new Error('VMS_BENCH_EVENTS_REUSE names a database an earlier run kept (vms_bench_events_…)')
  const keep = process.env.VMS_BENCH_EVENTS_KEEP === '1' || reuse !== undefined
  const dbName = reuse ?? `vms_bench_events_${randomBytes(4).toString('hex')}`
  const server = new pg.Client({ connectionString: serverUrl })
  await server.connect()
  if (!reuse) await server.query(`CREATE DATABASE ${dbName}`)
  const dbUrl = new URL(serverUrl)
  dbUrl.pathname = `/${dbName}`
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-events-'))
  const password = 'Bench-Events-Passphrase-61'
  const owner = new pg.Client({ connectionString: dbUrl.toString() })
  let hub: Awaited<ReturnType<typeof startHub>> | undefined
  try {
    hub = await startHub({
      config: loadConfig(
        {},
        {
          VMS_DATABASE_URL: dbUrl.toString(),
          VMS_HTTP_PORT: 0,
          VMS_MQTT_PORT: 0,
          VMS_DATA_DIR: dataDir,
          // Fixed, so that a kept database opens again (VMS_BENCH_EVENTS_REUSE); a bench's own key.
          VMS_MASTER_KEY: Buffer.alloc(32, 61).toString('base64'),
          VMS_BOOTSTRAP_ADMIN_PASSWORD: password,
          VMS_LOG_LEVEL: 'warn',
          VMS_LICENSE_PUBLIC_KEYS: testVendor.publicKeyFile,
          // Thousands of requests from one address in a few seconds: the bench, not an attack.
          VMS_API_RATE_PER_MINUTE: 1_000_000,
        },
      ),
      logger: createLogger('warn'),
    })
    const base = hub.url
    const api = async (method: string, p: string, token?: string, body?: unknown, text = false) => {
      const res = await fetch(`${base}${p}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': text ? 'text/plain' : 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: text ? String(body) : JSON.stringify(body) } : {}),
      })
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
      return (await res.json()) as Record<string, unknown>
    }
    const login = async (tenant: string, username: string, pass: string) =>
      (await api('POST', '/api/v1/auth/login', undefined, { tenant, username, password: pass }))
        .accessToken as string

    const userPassword = 'Bench-Events-User-Passphrase-83'
    await owner.connect()
    if (!reuse) await populate(api, await login('system', 'admin', password), userPassword, owner, rows)
    // Signed in after the load (which outlasts an access token).
    const system = await login('system', 'admin', password)
    const adminToken = await login('bench', 'bench-admin', userPassword)
    const operatorToken = await login('bench', 'bench-operator', userPassword)
    const cameras = (
      await owner.query<{ id: string }>(
        "select c.id from cameras c join tenants t on t.id = c.tenant_id where t.slug = 'bench' order by c.name",
      )
    ).rows.map((r) => r.id)
    // The planner's row count (exact after the load's ANALYZE; a count(*) would take seconds).
    const [stats] = (
      await owner.query<{ n: string }>(
        "select reltuples::bigint::text as n from pg_class where relname = 'events'",
      )
    ).rows
    const loaded = Number(stats?.n ?? 0)
    const list = async (token: string, query: Record<string, string>) => {
      const res = await fetch(
        `${base}/api/v1/events?${new URLSearchParams({ limit: String(PAGE), ...query })}`,
        {
          headers: { authorization: `Bearer ${token}` },
        },
      )
      if (!res.ok) throw new Error(`GET /api/v1/events: ${res.status} ${await res.text()}`)
      return (await res.json()) as {
        items: unknown[]
        total: number
        totalExact: boolean
        nextBefore: string | null
      }
    }
    // The cursor DEEP_PAGES pages down the tenant admin's list.
    let deep: string | null = null
    for (let i = 0; i < DEEP_PAGES; i++)
      deep = (await list(adminToken, deep ? { before: deep } : {})).nextBefore
    if (!deep) throw new Error(`fewer than ${DEEP_PAGES} pages of events: raise VMS_BENCH_EVENTS_ROWS`)
    const month = {
      from: new Date(END - 60 * 86_400_000).toISOString(),
      to: new Date(END - 30 * 86_400_000).toISOString(),
    }
    const camera = cameras[CAMERAS_PER_SITE + 3] as string
    const cases: { name: string; token: string; query: Record<string, string>; goal: boolean }[] = [
      { name: 'tenant admin, newest page', token: adminToken, query: {}, goal: true },
      { name: 'camera filter', token: adminToken, query: { cameraId: camera }, goal: true },
      {
        name: 'type filter, one month',
        token: adminToken,
        query: { type: 'camera.offline', ...month },
        goal: true,
      },
      { name: 'site-scoped operator, newest page', token: operatorToken, query: {}, goal: true },
      { name: `${DEEP_PAGES} pages deep by cursor`, token: adminToken, query: { before: deep }, goal: true },
      { name: 'system admin across tenants, newest page', token: system, query: {}, goal: true },
      {
        name: `${DEEP_PAGES} pages deep by offset (for comparison)`,
        token: adminToken,
        query: { offset: String(DEEP_PAGES * PAGE) },
        goal: false,
      },
    ]
    const reference = await latency(async () => (await fetch(`${base}/healthz`)).arrayBuffer(), requests)
    const results: BenchResult[] = []
    for (const c of cases) {
      const sample = await list(c.token, c.query)
      if (sample.items.length !== PAGE) throw new Error(`${c.name}: a page of ${sample.items.length} events`)
      const l = await latency(() => list(c.token, c.query), requests)
      const met = l.p99 < GOAL_P99_MS
      results.push({
        name: `events-query: ${c.name}`,
        subject: { label: c.name, opsPerSec: 1000 / l.p50 },
        reference: { label: 'GET /healthz', opsPerSec: 1000 / reference.p50 },
        ratio: l.p50 / reference.p50,
        line:
          `events-query: ${c.name}: p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms ` +
          `(total ${sample.total}${sample.totalExact ? '' : '+'}; ${loaded.toLocaleString('en')} rows; ` +
          `GET /healthz p50 ${reference.p50.toFixed(1)} ms)`,
        ...(c.goal ? { goals: [{ text: `p99 < ${GOAL_P99_MS} ms`, met }] } : {}),
      })
    }
    return results
  } finally {
    await hub?.close()
    await owner.end().catch(() => undefined)
    if (keep) console.log(`events-query: kept database ${dbName}`)
    else await server.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    await server.end()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

type Api = (
  method: string,
  p: string,
  token?: string,
  body?: unknown,
  text?: boolean,
) => Promise<Record<string, unknown>>

/**
 * The tenant, its admin, sites, cameras and a site-scoped operator, as an installer makes them
 * (through the API), then `rows` events straight in SQL.
 */
async function populate(api: Api, system: string, userPassword: string, owner: pg.Client, rows: number) {
  const login = async (tenant: string, username: string) =>
    (await api('POST', '/api/v1/auth/login', undefined, { tenant, username, password: userPassword }))
      .accessToken as string
  const tenant = await api('POST', '/api/v1/tenants', system, { slug: 'bench', name: 'Bench' })
  const tenantId = tenant.id as string
  await api(
    'PUT',
    `/api/v1/license?tenantId=${tenantId}`,
    system,
    await issueTestLicense({ tenant: 'bench' }),
    true,
  )
  const admin = await api('POST', '/api/v1/users', system, {
    username: 'bench-admin',
    password: userPassword,
    tenantId,
  })
  await api('POST', `/api/v1/users/${admin.id}/role-bindings`, system, {
    role: 'tenant-admin',
    scope: { type: 'tenant' },
  })
  const adminToken = await login('bench', 'bench-admin')
  const sites: string[] = []
  const cameras: { id: string; siteId: string }[] = []
  for (let s = 0; s < SITES; s++) {
    const site = await api('POST', '/api/v1/sites', adminToken, { name: `Site ${s + 1}` })
    sites.push(site.id as string)
    for (let c = 0; c < CAMERAS_PER_SITE; c++) {
      const camera = await api('POST', '/api/v1/cameras', adminToken, {
        name: `Camera ${s + 1}.${c + 1}`,
        siteId: site.id,
      })
      cameras.push({ id: camera.id as string, siteId: site.id as string })
    }
  }
  const operator = await api('POST', '/api/v1/users', adminToken, {
    username: 'bench-operator',
    password: userPassword,
  })
  await api('POST', `/api/v1/users/${operator.id}/role-bindings`, adminToken, {
    role: 'operator',
    scope: { type: 'site', id: sites[0] },
  })

  // The events, straight in SQL: in time order (as agents deliver them), at whole seconds over a
  // year (a load larger than the year's seconds has runs of equal times), on cameras and of types
  // spread by hashes of the row number, every tenth event another tenant's.
  const loadStart = performance.now()
  const chunk = 1_000_000
  for (let first = 1; first <= rows; first += chunk) {
    const last = Math.min(rows, first + chunk - 1)
    await owner.query(
      `insert into events (tenant_id, agent_id, site_id, camera_id, seq, type, time, data)
       select case when x.other then $3::uuid else $4::uuid end,
              null,
              case when x.other then $3::uuid else ($9::uuid[])[x.cam] end,
              case when x.other then null else ($8::uuid[])[x.cam] end,
              null,
              x.type,
              to_timestamp($5::float8 - $6::float8 + floor(g::float8 * $6 / $7)),
              case when x.type = 'object'
                then jsonb_build_object('label', (array['person', 'car', 'dog'])[1 + g % 3], 'score', 0.8,
                                        'zones', '[]'::jsonb, 'hasSnapshot', false, 'endTime', null)
                else jsonb_build_object('reason', 'bench') end
       from generate_series($1::bigint, $2::bigint) g
       cross join lateral (
         select abs(hashint8(g)) % 10 = 9 as other,
                1 + abs(hashint8(g + 1)) % cardinality($8::uuid[]) as cam,
                case abs(hashint8(-g)) % 20
                  when 0 then 'camera.offline'
                  when 1 then 'camera.online'
                  when 2 then 'recording.gap'
                  when 3 then 'object' when 4 then 'object' when 5 then 'object' when 6 then 'object'
                  when 7 then 'object'
                  else 'motion' end as type) x`,
      [
        first,
        last,
        randomUUID(),
        tenantId,
        END / 1000,
        SPAN_SECONDS,
        rows,
        cameras.map((c) => c.id),
        cameras.map((c) => c.siteId),
      ],
    )
  }
  await owner.query('VACUUM ANALYZE events')
  const loadSeconds = (performance.now() - loadStart) / 1000
  console.log(
    `events-query: ${rows.toLocaleString('en')} events loaded and analysed in ${loadSeconds.toFixed(0)} s`,
  )
}
