import { type ChildProcess, fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { issueTestLicense, testVendor } from '../../hub/test/helpers/licenses.ts'
import { mosquittoAvailable, startMosquitto } from '../../hub/test/helpers/mosquitto.ts'
import {
  enrollSimAgent,
  type FleetAgentResult,
  runFleetAgent,
  type SimCredentials,
} from '../../scripts/fleet-sim.ts'
import type { BenchResult } from '../run.ts'
import { type BenchDatabase, withBenchDatabase } from './bench-database.ts'
import { positive } from './bench-env.ts'
import type { FleetHubReply, FleetHubRequest } from './fleet-hub.ts'

/**
 * `npm run bench -- fleet` (issue 17): a fleet of simulated agents (scripts/fleet-sim.ts; 16
 * cameras each, a heartbeat every 10 s with every camera's health, 5 events/s) against one hub on
 * PostgreSQL, once with the embedded broker and once with Mosquitto. The hub runs in a process of
 * its own, so its CPU and memory are measured apart from the agents'. Goals: the hub's CPU under
 * half of the machine's 2 cores (under one core), heartbeat publication to committed (the agent's
 * acknowledgement, sent after the commit; outbox wait included) p99 under 1 s, memory flat (see MEMORY_SLOPE_LIMIT).
 *
 * VMS_BENCH_FLEET_AGENTS (1000), VMS_BENCH_FLEET_SECONDS (600), VMS_BENCH_FLEET_BROKERS
 * (`embedded,mosquitto`), VMS_BENCH_FLEET_BATCH_MS (1000: how often an agent publishes its outbox).
 * Needs VMS_BENCH_DATABASE_URL (a server the bench creates and drops its own database on).
 */
const CAMERAS = 16
const HEARTBEAT_MS = 10_000
const EVENTS_PER_SECOND = 5
const SAMPLE_MS = 5000
/**
 * Memory is flat when the trend of the hub's heap after a full collection over the run's second
 * half, projected over an hour, stays under this (a leak of 1 KiB per agent per heartbeat would
 * be 350 MiB/h at 1,000 agents).
 */
const MEMORY_SLOPE_LIMIT_MB_PER_HOUR = 50
const CPU_GOAL_CORES = 1
const P99_GOAL_MS = 1000
const ENROLL_CONCURRENCY = 16

const here = path.dirname(fileURLToPath(import.meta.url))

export async function benchFleet(): Promise<BenchResult[]> {
  if (!process.env.VMS_BENCH_DATABASE_URL) {
    console.log(
      'fleet: SKIPPED (set VMS_BENCH_DATABASE_URL to a PostgreSQL server the bench may create a database on)',
    )
    return []
  }
  const brokers = (process.env.VMS_BENCH_FLEET_BROKERS ?? 'embedded,mosquitto')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean)
  const results: BenchResult[] = []
  for (const broker of brokers) {
    if (broker !== 'embedded' && broker !== 'mosquitto') throw new Error(`unknown broker '${broker}'`)
    if (broker === 'mosquitto' && !mosquittoAvailable) {
      console.log('fleet (mosquitto): SKIPPED (mosquitto with the dynamic-security plugin is not installed)')
      continue
    }
    try {
      results.push(...(await withBenchDatabase(`fleet_${broker}`, (db) => runFleet(db, broker))))
    } catch (err) {
      results.push({
        name: `fleet (${broker})`,
        subject: { label: '', opsPerSec: 0 },
        reference: { label: '', opsPerSec: 0 },
        ratio: 0,
        line: `fleet (${broker}): FAILED: ${(err as Error).message}`,
        goals: [{ text: 'the run completes', met: false }],
      })
    }
  }
  return results
}

interface HubProcess {
  url: string
  sample(): Promise<Extract<FleetHubReply, { type: 'sample' }>>
  close(): Promise<void>
}

async function startHubProcess(env: Record<string, string>): Promise<HubProcess> {
  const child: ChildProcess = fork(path.join(here, 'fleet-hub.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const waiting: ((m: FleetHubReply) => void)[] = []
  child.on('message', (m: FleetHubReply) => waiting.shift()?.(m))
  const next = () => new Promise<FleetHubReply>((resolve) => waiting.push(resolve))
  const ready = await Promise.race([
    next(),
    new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`hub exited: ${code}`)))),
  ])
  if (ready.type !== 'ready') throw new Error('hub did not start')
  const ask = async (m: FleetHubRequest) => {
    const reply = next()
    child.send(m)
    return reply
  }
  return {
    url: ready.url,
    async sample() {
      const r = await ask({ type: 'sample' })
      if (r.type !== 'sample') throw new Error('unexpected reply')
      return r
    },
    async close() {
      const exited = new Promise((r) => child.once('exit', r))
      child.send({ type: 'close' })
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

/** A busy shared machine can time a request out: a few tries, a second apart. */
async function withRetries<T>(work: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await work()
    } catch (err) {
      if (i >= tries) throw err
      await new Promise((r) => setTimeout(r, 1000 * i))
    }
  }
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length
  if (n < 2) return 0
  const mx = points.reduce((s, p) => s + p.x, 0) / n
  const my = points.reduce((s, p) => s + p.y, 0) / n
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0)
  return sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/** From a /metrics text: the histogram's share of observations at or under `le` for a label set. */
function histogramShare(
  text: string,
  name: string,
  label: string,
  le: string,
): { share: number; count: number } {
  const bucket = new RegExp(
    `^${name}_bucket\\{[^}]*le="${le.replace('.', '\\.')}"[^}]*${label}[^}]*\\}\\s+(\\S+)`,
    'm',
  )
  const bucketAlt = new RegExp(
    `^${name}_bucket\\{[^}]*${label}[^}]*le="${le.replace('.', '\\.')}"[^}]*\\}\\s+(\\S+)`,
    'm',
  )
  const count = new RegExp(`^${name}_count\\{[^}]*${label}[^}]*\\}\\s+(\\S+)`, 'm')
  const under = Number((bucket.exec(text) ?? bucketAlt.exec(text))?.[1] ?? Number.NaN)
  const n = Number(count.exec(text)?.[1] ?? Number.NaN)
  return { share: under / n, count: n }
}

/** Median ms of a query over several runs. */
async function queryMs(client: pg.Client, sql: string, runs = 7): Promise<{ ms: number; bytes: number }> {
  const times: number[] = []
  let bytes = 0
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const r = await client.query(sql)
    times.push(performance.now() - t)
    bytes = r.rows.reduce((s, row) => s + JSON.stringify(row).length, 0)
  }
  times.sort((a, b) => a - b)
  return { ms: times[Math.floor(times.length / 2)] as number, bytes }
}

async function runFleet(db: BenchDatabase, broker: 'embedded' | 'mosquitto'): Promise<BenchResult[]> {
  const agents = positive('VMS_BENCH_FLEET_AGENTS', 1000)
  const seconds = positive('VMS_BENCH_FLEET_SECONDS', 600)
  const batchMs = positive('VMS_BENCH_FLEET_BATCH_MS', 1000)
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-fleet-'))
  const mosquitto = broker === 'mosquitto' ? await startMosquitto() : undefined
  const password = 'Bench-Root-Passphrase-77'
  const hub = await startHubProcess({
    ...(db.hubConfig as Record<string, string>),
    VMS_HTTP_PORT: '0',
    VMS_MQTT_PORT: '0',
    VMS_MQTT_TLS: 'false',
    VMS_DATA_DIR: dataDir,
    VMS_BOOTSTRAP_ADMIN_PASSWORD: password,
    VMS_LICENSE_PUBLIC_KEYS: testVendor.publicKeyFile,
    VMS_LOG_LEVEL: 'warn',
    VMS_ENROLL_PER_HOUR_PER_IP: String(agents * 4),
    VMS_API_RATE_PER_MINUTE: String(Math.max(600, agents * 4)),
    VMS_MQTT_MAX_CONNECTIONS_PER_IP: String(agents + 100),
    VMS_HTTP_MAX_CONNECTIONS_PER_IP: '1000',
    ...(mosquitto ? { VMS_MQTT_URL: mosquitto.hubUrl } : {}),
  })
  const stop = new AbortController()
  try {
    const login = await fetch(`${hub.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'system', username: 'admin', password }),
    })
    const { accessToken } = (await login.json()) as { accessToken: string }
    const auth = { authorization: `Bearer ${accessToken}` }
    const license = await fetch(`${hub.url}/api/v1/license`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: await issueTestLicense({
        tenant: 'system',
        limits: { maxCameras: agents * CAMERAS + 100, maxAgents: agents + 10, maxSites: 50, maxUsers: 100 },
      } as never),
    })
    if (!license.ok) throw new Error(`license: ${license.status} ${await license.text()}`)
    const site = await fetch(`${hub.url}/api/v1/sites`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Fleet' }),
    })
    const { id: siteId } = (await site.json()) as { id: string }
    // Rules whose passes read every agent's health, as a fleet's operators would set them.
    for (const kind of ['camera.offline', 'disk.full', 'outbox.backlog', 'agent.offline'])
      await fetch(`${hub.url}/api/v1/alarm-rules`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: kind, kind, scope: { type: 'tenant' }, params: {} }),
      })

    const enrollStart = performance.now()
    const creds: SimCredentials[] = []
    for (let i = 0; i < agents; i += ENROLL_CONCURRENCY)
      creds.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(ENROLL_CONCURRENCY, agents - i) }, (_, j) =>
            withRetries(() => enrollSimAgent(hub.url, accessToken, siteId, `fleet-${i + j}`)),
          ),
        )),
      )
    const enrollSeconds = (performance.now() - enrollStart) / 1000

    const samples: { t: number; cpuMicros: number; rss: number; heap: number }[] = []
    const started = performance.now()
    const runs = Promise.all(
      creds.map((c) =>
        runFleetAgent(c, {
          cameras: CAMERAS,
          heartbeatMs: HEARTBEAT_MS,
          eventsPerSecond: EVENTS_PER_SECOND,
          batchMs,
          durationMs: seconds * 1000,
          signal: stop.signal,
        }),
      ),
    )
    const sampler = setInterval(() => {
      void hub.sample().then((s) =>
        samples.push({
          t: performance.now() - started,
          cpuMicros: s.cpuMicros,
          rss: s.rssBytes,
          heap: s.heapUsedBytes,
        }),
      )
    }, SAMPLE_MS)
    let agentResults: FleetAgentResult[]
    try {
      agentResults = await runs
    } finally {
      clearInterval(sampler)
    }

    // What the hub says: its commit-lag histogram (the metric operators have).
    const metrics = await (await fetch(`${hub.url}/metrics`, { headers: auth })).text()
    const hubHealthLag = histogramShare(metrics, 'vms_ingest_commit_lag_seconds', 'health="true"', '1')

    // The alarm pass's read of the fleet's health: the whole last heartbeat against its alarm part.
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    let read: { full: { ms: number; bytes: number }; part: { ms: number; bytes: number } }
    let historyRows = 0
    let historyRowBytes = 0
    try {
      read = {
        full: await queryMs(client, 'select id, last_health from agents where revoked_at is null'),
        part: await queryMs(
          client,
          'select id, coalesce(alarm_health, last_health) as h from agents where revoked_at is null',
        ),
      }
      const history = await client.query(
        'select count(*)::int as n, coalesce(avg(pg_column_size(h.*)), 0)::int as bytes from agent_health_history h',
      )
      historyRows = Number(history.rows[0]?.n)
      historyRowBytes = Number(history.rows[0]?.bytes)
    } finally {
      await client.end()
    }

    // CPU over the steady part (after the first quarter: connections and first heartbeats settle).
    const steady = samples.filter((s) => s.t >= (seconds * 1000) / 4)
    const first = steady[0]
    const last = steady.at(-1)
    const cpuCores =
      first && last && last.t > first.t
        ? (last.cpuMicros - first.cpuMicros) / 1000 / (last.t - first.t)
        : Number.NaN
    const secondHalf = samples.filter((s) => s.t >= (seconds * 1000) / 2)
    const rssSlope = slope(secondHalf.map((s) => ({ x: s.t, y: s.rss }))) // bytes per ms
    const heapSlope = slope(secondHalf.map((s) => ({ x: s.t, y: s.heap })))
    const mbPerHour = (bytesPerMs: number) => (bytesPerMs * 3_600_000) / 1024 ** 2
    const lags = agentResults.flatMap((r) => r.heartbeatLagMs).sort((a, b) => a - b)
    const eventLags = agentResults.flatMap((r) => r.eventLagMs).sort((a, b) => a - b)
    const heartbeats = agentResults.reduce((s, r) => s + r.heartbeats, 0)
    const events = agentResults.reduce((s, r) => s + r.events, 0)
    const resent = agentResults.reduce((s, r) => s + r.resent, 0)
    const p99 = percentile(lags, 99)
    const label = `fleet (${broker})`
    const rssMb = (last?.rss ?? 0) / 1024 ** 2
    return [
      {
        name: label,
        subject: { label: '', opsPerSec: 0 },
        reference: { label: '', opsPerSec: 0 },
        ratio: 0,
        line:
          `${label}: ${agents} agents x ${CAMERAS} cameras for ${seconds} s on ${db.label} ` +
          `(${heartbeats} heartbeats, ${events} events, ${resent} resends from the last ack; enrolment ${enrollSeconds.toFixed(0)} s): ` +
          `hub CPU ${(cpuCores * 100).toFixed(0)}% of one core`,
        goals: [
          {
            text: `hub CPU < ${CPU_GOAL_CORES * 100}% of one core (50% of 2)`,
            met: cpuCores < CPU_GOAL_CORES,
          },
        ],
      },
      {
        name: `${label} lag`,
        subject: { label: '', opsPerSec: 0 },
        reference: { label: '', opsPerSec: 0 },
        ratio: 0,
        line:
          `${label}: heartbeat to committed (made to ack) p50 ${percentile(lags, 50).toFixed(0)} ms, ` +
          `p99 ${p99.toFixed(0)} ms, max ${(lags.at(-1) ?? Number.NaN).toFixed(0)} ms over ${lags.length}; ` +
          `event batches p99 ${percentile(eventLags, 99).toFixed(0)} ms; hub metric ` +
          `vms_ingest_commit_lag_seconds{health="true"}: ${(hubHealthLag.share * 100).toFixed(2)}% of ${hubHealthLag.count} <= 1 s`,
        goals: [{ text: `heartbeat p99 < ${P99_GOAL_MS} ms`, met: p99 < P99_GOAL_MS && lags.length > 0 }],
      },
      {
        name: `${label} memory`,
        subject: { label: '', opsPerSec: 0 },
        reference: { label: '', opsPerSec: 0 },
        ratio: 0,
        line:
          `${label}: hub RSS ${rssMb.toFixed(0)} MiB, heap after GC ${((last?.heap ?? 0) / 1024 ** 2).toFixed(0)} MiB ` +
          `at the end; second-half trend: heap ${mbPerHour(heapSlope).toFixed(1)} MiB/h, RSS ` +
          `${mbPerHour(rssSlope).toFixed(1)} MiB/h (${secondHalf.length} samples)`,
        goals: [
          {
            text: `memory flat (heap trend < ${MEMORY_SLOPE_LIMIT_MB_PER_HOUR} MiB/h)`,
            met: secondHalf.length >= 3 && mbPerHour(heapSlope) < MEMORY_SLOPE_LIMIT_MB_PER_HOUR,
          },
        ],
      },
      {
        name: `${label} health read`,
        subject: { label: 'alarm part (alarm_health)', opsPerSec: 1000 / read.part.ms },
        reference: { label: 'whole last_health', opsPerSec: 1000 / read.full.ms },
        ratio: read.part.ms / read.full.ms,
        notes:
          `the alarm pass's read of ${agents} agents' health: ${read.part.ms.toFixed(1)} ms / ${(read.part.bytes / 1024 ** 2).toFixed(2)} MiB ` +
          `vs ${read.full.ms.toFixed(1)} ms / ${(read.full.bytes / 1024 ** 2).toFixed(2)} MiB; ` +
          `${historyRows} health-history rows of ${historyRowBytes} bytes on average`,
      },
    ]
  } finally {
    stop.abort()
    await hub.close()
    await mosquitto?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
