import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Koa from 'koa'
import { loadConfig } from '../../hub/src/config/config.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { type RunningHub, startHub } from '../../hub/src/server.ts'
import { issueTestLicense, testVendor } from '../../hub/test/helpers/licenses.ts'
import type { BenchResult } from '../run.ts'
import type { LoadRun, LoadSummary } from './api-load.ts'
import { type BenchDatabase, withBenchDatabase } from './bench-database.ts'
import { positive } from './bench-env.ts'

/**
 * The HTTP API under concurrent load, two figures:
 * - api-throughput: an authenticated, RBAC-scoped read (GET /api/v1/cameras as an operator bound
 *   to one site of a tenant with several: token verification, the principal and its bindings, the
 *   rate limiter, the query under RLS filtered to the operator's grants, JSON) against a bare Koa
 *   app answering a small JSON hello in the same process, both loaded by autocannon with 50
 *   connections for VMS_BENCH_API_SECONDS (20) each (goal: the hub at least 0.5x Koa's throughput).
 * - api-latency: the same read offered at a fixed 1,000 requests/s (autocannon's overallRate over
 *   the same 50 connections): p50 and p99 latency (goal: p99 under 10 ms).
 * The load generator runs in a process of its own (api-load.ts); each target is warmed up for a
 * few seconds first. On a database of its own when VMS_BENCH_DATABASE_URL is set, else the hub's
 * embedded PGlite, whose queries then run on the hub's event loop.
 */
const CONNECTIONS = 50
const FIXED_RATE = 1000
const WARMUP_SECONDS = 3
const GOAL_SHARE = 0.5
const GOAL_P99_MS = 10
const SITES = 4
const CAMERAS_PER_SITE = 5

/**
 * The api suite's parts, in order: the API figures, then each of `more` (benchmarks of other API
 * paths, with hubs of their own), so `npm run bench -- api` covers the API. Each part's figures are
 * printed as soon as it ends.
 */
export function apiSuite(...more: (() => Promise<BenchResult[]>)[]): (() => Promise<BenchResult[]>)[] {
  return [benchApi, ...more]
}

export function benchApi(): Promise<BenchResult[]> {
  return withBenchDatabase('api', benchApiOn)
}

async function benchApiOn(db: BenchDatabase): Promise<BenchResult[]> {
  const seconds = positive('VMS_BENCH_API_SECONDS', 20)
  const koa = await startHelloKoa()
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-api-'))
  let hub: RunningHub | undefined
  try {
    hub = await startHub({
      config: loadConfig(
        {},
        {
          VMS_HTTP_PORT: 0,
          VMS_MQTT_PORT: 0,
          VMS_DATA_DIR: dataDir,
          VMS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
          VMS_LICENSE_PUBLIC_KEYS: testVendor.publicKeyFile,
          // The per-user limit (600/min) would answer nearly all of the load with 429; the limiter
          // still runs on every request.
          VMS_API_RATE_PER_MINUTE: 1_000_000_000,
          ...db.hubConfig,
        },
      ),
      logger: createLogger('warn'),
    })
    const subject = await scopedReader(hub.url)
    const reference: LoadRun = { url: koa.url, connections: CONNECTIONS, duration: seconds }

    // The load generator stops with up to CONNECTIONS requests still queued in the hub: one more
    // request, answered after them, lets the next run (and the hub's close) start from idle.
    const settle = async () => {
      const res = await fetch(subject.url, { headers: subject.headers ?? {} })
      await res.arrayBuffer()
    }
    await load({ ...reference, duration: WARMUP_SECONDS })
    const koaRun = await load(reference)
    await load({ ...subject, duration: WARMUP_SECONDS })
    await settle()
    const hubRun = await load({ ...subject, duration: seconds })
    await settle()
    const fixed = await load({ ...subject, duration: seconds, overallRate: FIXED_RATE })
    await settle()

    const hubRate = hubRun.requests / hubRun.seconds
    const koaRate = koaRun.requests / koaRun.seconds
    const share = hubRate / koaRate
    const clean = isClean(koaRun) && isClean(hubRun)
    // The latency goal holds at the rate only if the hub kept up with it.
    const keptUp = fixed.requests / fixed.seconds >= 0.95 * FIXED_RATE
    return [
      {
        name: 'api-throughput',
        subject: { label: `GET /api/v1/cameras as a site-scoped operator`, opsPerSec: hubRate },
        reference: { label: 'bare Koa JSON hello', opsPerSec: koaRate },
        ratio: koaRate / hubRate,
        notes:
          `the hub at ${share.toFixed(2)}x Koa's throughput; ${CONNECTIONS} connections, ${seconds} s each; ` +
          `${db.label}${failures('hub', hubRun)}${failures('Koa', koaRun)}`,
        goals: [{ text: `hub >= ${GOAL_SHARE}x Koa's throughput`, met: clean && share >= GOAL_SHARE }],
      },
      {
        name: 'api-latency',
        subject: { label: 'p99 latency (ms)', opsPerSec: fixed.p99 },
        reference: { label: 'goal (ms)', opsPerSec: GOAL_P99_MS },
        ratio: fixed.p99 / GOAL_P99_MS,
        line:
          `api-latency: GET /api/v1/cameras as a site-scoped operator offered ${FIXED_RATE} requests/s ` +
          `(${CONNECTIONS} connections, ${seconds} s): answered ${(fixed.requests / fixed.seconds).toFixed(0)}/s, ` +
          `p50 ${fixed.p50} ms, p99 ${fixed.p99} ms (${db.label}${failures('hub', fixed)})`,
        goals: [
          {
            text: `p99 < ${GOAL_P99_MS} ms at ${FIXED_RATE} requests/s`,
            met: isClean(fixed) && keptUp && fixed.p99 < GOAL_P99_MS,
          },
        ],
      },
    ]
  } finally {
    await hub?.close()
    await new Promise((r) => koa.server.close(r))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const ADMIN_PASSWORD = 'Bench-Api-Root-Passphrase-58'
const OPERATOR_PASSWORD = 'Bench-Api-Operator-Passphrase-31'

const isClean = (s: LoadSummary) => s.non2xx === 0 && s.errors === 0 && s.timeouts === 0
const failures = (who: string, s: LoadSummary) =>
  isClean(s) ? '' : `; ${who}: ${s.non2xx} non-2xx, ${s.errors} errors, ${s.timeouts} timeouts`

/** A Koa app answering every request with a small JSON hello: what Koa costs at the least. */
async function startHelloKoa(): Promise<{ url: string; server: Server }> {
  const app = new Koa()
  app.use((ctx) => {
    ctx.body = { hello: 'world' }
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server }
}

/**
 * A tenant of SITES sites with CAMERAS_PER_SITE cameras each, and an operator bound to one of
 * them, signed in: the load's request, which must list that site's cameras and no other.
 */
export async function scopedReader(hubUrl: string): Promise<LoadRun> {
  const api = async (
    method: string,
    p: string,
    token?: string,
    body?: unknown,
    type = 'application/json',
  ) => {
    const res = await fetch(`${hubUrl}${p}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': type } : {}),
      },
      ...(body ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    })
    if (!res.ok) throw new Error(`api bench setup: ${method} ${p}: ${res.status} ${await res.text()}`)
    return (await res.json()) as Record<string, unknown>
  }
  const login = async (tenant: string, username: string, password: string) =>
    (await api('POST', '/api/v1/auth/login', undefined, { tenant, username, password })).accessToken as string
  const admin = await login('system', 'admin', ADMIN_PASSWORD)
  const tenant = await api('POST', '/api/v1/tenants', admin, { slug: 'bench', name: 'Bench retail' })
  const tenantId = tenant.id as string
  await api(
    'PUT',
    `/api/v1/license?tenantId=${tenantId}`,
    admin,
    await issueTestLicense({ tenant: 'bench' }),
    'text/plain',
  )
  const siteIds: string[] = []
  for (let s = 0; s < SITES; s++) {
    const site = await api('POST', '/api/v1/sites', admin, { name: `Store ${s + 1}`, tenantId })
    siteIds.push(site.id as string)
    for (let c = 0; c < CAMERAS_PER_SITE; c++)
      await api('POST', '/api/v1/cameras', admin, { name: `Store ${s + 1} camera ${c + 1}`, siteId: site.id })
  }
  const operator = await api('POST', '/api/v1/users', admin, {
    username: 'store-operator',
    password: OPERATOR_PASSWORD,
    tenantId,
  })
  await api('POST', `/api/v1/users/${operator.id}/role-bindings`, admin, {
    role: 'operator',
    scope: { type: 'site', id: siteIds[0] },
  })
  const token = await login('bench', 'store-operator', OPERATOR_PASSWORD)
  const url = `${hubUrl}/api/v1/cameras`
  const seen = (await api('GET', '/api/v1/cameras', token)) as { items: { siteId: string }[] }
  if (seen.items.length !== CAMERAS_PER_SITE || seen.items.some((c) => c.siteId !== siteIds[0]))
    throw new Error(
      `api bench: the operator sees ${seen.items.length} cameras, not their site's ${CAMERAS_PER_SITE}`,
    )
  return { url, headers: { authorization: `Bearer ${token}` }, connections: CONNECTIONS, duration: 0 }
}

/** One autocannon run in a child process (api-load.ts). */
export async function load(run: LoadRun): Promise<LoadSummary> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'api-load.ts')
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(run)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', resolve)
  })
  const line = out.trim().split('\n').at(-1)
  if (code !== 0 || !line) throw new Error(`the api bench's load generator exited (${code})`)
  return JSON.parse(line) as LoadSummary
}
