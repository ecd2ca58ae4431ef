import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import pg from 'pg'
import { loadConfig } from '../../hub/src/config/config.ts'
import { startEmbeddedPostgres } from '../../hub/src/db/embedded-postgres.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { startHub } from '../../hub/src/server.ts'
import { issueTestLicense, testVendor } from '../../hub/test/helpers/licenses.ts'
import { enrollSimAgent, eventBatch, runSimAgent } from '../../scripts/fleet-sim.ts'
import type { BenchResult } from '../run.ts'
import { type BenchDatabase, withBenchDatabase } from './bench-database.ts'

const AGENTS = 10
const EVENTS = 5000
const BATCH = 500
/** The hub's ingest throughput at least half of the bare INSERT's. */
const GOAL_SHARE = 0.5

/**
 * Sustained ingest: events/s from the broker to committed PostgreSQL rows (exactly-once path:
 * validation, per-agent ordering, one transaction per batch, acks), for a simulated fleet, against
 * the floor under it: the same rows inserted straight into a table of the same definition in the
 * same database, with the statement the hub runs, in batches of the same size, one connection per
 * agent (one in all on PGlite, which is one session). The ratio is what the hub's guarantees and
 * transport cost over the bare INSERT. Beside it, for information, the raw throughput of the same
 * broker software moving the same batches to a subscriber that only counts them.
 * On a database of its own when VMS_BENCH_DATABASE_URL is set, else the hub's embedded PGlite
 * (reopened after the hub closes for the reference).
 */
export function benchIngest(): Promise<BenchResult[]> {
  return withBenchDatabase('ingest', benchIngestOn)
}

async function benchIngestOn(db: BenchDatabase): Promise<BenchResult[]> {
  const total = AGENTS * EVENTS
  const rawSeconds = await rawBrokerSeconds(total)
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-ingest-'))
  try {
    const hubSeconds = await hubIngestSeconds(db, dataDir)
    const insertSeconds = await referenceInsertSeconds(db, dataDir, total)
    const share = insertSeconds / hubSeconds
    return [
      {
        name: 'ingest',
        subject: { label: `hub ingest (${AGENTS} agents, committed rows)`, opsPerSec: total / hubSeconds },
        reference: {
          label: `batched INSERT of the same rows (${BATCH} a statement)`,
          opsPerSec: total / insertSeconds,
        },
        ratio: hubSeconds / insertSeconds,
        notes: `${total} events; the hub at ${share.toFixed(2)}x the INSERT's throughput; ${db.label}`,
        goals: [{ text: `hub >= ${GOAL_SHARE}x the INSERT's throughput`, met: share >= GOAL_SHARE }],
      },
      {
        name: 'ingest-broker',
        subject: { label: 'hub ingest', opsPerSec: total / hubSeconds },
        reference: { label: 'raw broker (aedes to a counting subscriber)', opsPerSec: total / rawSeconds },
        ratio: hubSeconds / rawSeconds,
        notes: 'for information: what the transport alone moves',
      },
    ]
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** A bare aedes broker and a counting subscriber: seconds to move `total` events in the same batches. */
async function rawBrokerSeconds(total: number): Promise<number> {
  const aedes = await Aedes.createBroker()
  const server = net.createServer(aedes.handle)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const sink = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`)
  let received = 0
  let resolveAll: () => void = () => {}
  const allReceived = new Promise<void>((r) => {
    resolveAll = r
  })
  sink.on('message', (_t, payload) => {
    received += (JSON.parse(payload.toString()) as { messages: unknown[] }).messages.length
    if (received >= total) resolveAll()
  })
  await sink.subscribeAsync('bench/+/up', { qos: 1 })
  const publishers = await Promise.all(
    Array.from({ length: AGENTS }, () => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`)),
  )
  const rawStart = performance.now()
  await Promise.all(
    publishers.map(async (p, i) => {
      for (let seq = 1; seq <= EVENTS; seq += BATCH)
        await p.publishAsync(`bench/${i}/up`, eventBatch(seq, BATCH), { qos: 1 })
    }),
  )
  await allReceived
  const seconds = (performance.now() - rawStart) / 1000
  for (const p of [...publishers, sink]) await p.endAsync(true)
  await new Promise<void>((r) => aedes.close(() => r()))
  server.close()
  return seconds
}

/** The hub with a simulated fleet: seconds until every agent's events are committed and acked. */
async function hubIngestSeconds(db: BenchDatabase, dataDir: string): Promise<number> {
  const password = 'Bench-Root-Passphrase-77'
  const config = loadConfig(
    {},
    {
      VMS_HTTP_PORT: 0,
      VMS_MQTT_PORT: 0,
      VMS_MQTT_TLS: false,
      VMS_DATA_DIR: dataDir,
      VMS_BOOTSTRAP_ADMIN_PASSWORD: password,
      VMS_LICENSE_PUBLIC_KEYS: testVendor.publicKeyFile,
      VMS_ENROLL_PER_HOUR_PER_IP: 1000,
      ...db.hubConfig,
    },
  )
  const hub = await startHub({ config, logger: createLogger('warn') })
  try {
    const login = await fetch(`${hub.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'system', username: 'admin', password }),
    })
    const { accessToken } = (await login.json()) as { accessToken: string }
    const headers = { authorization: `Bearer ${accessToken}`, 'content-type': 'text/plain' }
    await fetch(`${hub.url}/api/v1/license`, {
      method: 'PUT',
      headers,
      body: await issueTestLicense({ tenant: 'system' }),
    })
    const site = await fetch(`${hub.url}/api/v1/sites`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bench' }),
    })
    const { id: siteId } = (await site.json()) as { id: string }
    const fleet = []
    for (let i = 0; i < AGENTS; i++)
      fleet.push(await enrollSimAgent(hub.url, accessToken, siteId, `bench-${i}`))
    const started = performance.now()
    await Promise.all(fleet.map((c) => runSimAgent(c, EVENTS, BATCH)))
    return (performance.now() - started) / 1000
  } finally {
    await hub.close()
  }
}

/** An events row as the hub's ingest inserts it: its parameters, in the statement's order. */
type EventRow = [
  tenantId: string,
  agentId: string,
  siteId: string,
  cameraId: string | null,
  seq: string,
  type: string,
  time: string,
  data: string,
]

/** The hub's multi-row insert of plain events (AgentIngest.apply), into `table`. */
function insertStatement(table: string, rows: number): string {
  const values = Array.from({ length: rows }, (_, r) => {
    const p = (k: number) => `$${r * 8 + k}`
    return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}::timestamptz, ${p(8)}::jsonb)`
  })
  return (
    `insert into ${table} (tenant_id, agent_id, site_id, camera_id, seq, type, time, data) ` +
    `values ${values.join(', ')} on conflict (agent_id, seq) do nothing ` +
    'returning id, tenant_id, agent_id, site_id, camera_id, seq, type, time, received_at, data'
  )
}

/**
 * The reference, after the hub has closed, on the same database: the rows the hub committed, read
 * back, inserted again into a table of the same definition (`LIKE events INCLUDING ALL`: columns,
 * defaults, constraints, indexes) in batches of the fleet's size, each agent's batches in order on
 * one connection as the hub applies them. Seconds for all of them.
 */
async function referenceInsertSeconds(db: BenchDatabase, dataDir: string, total: number): Promise<number> {
  // PGlite: the hub's own data directory reopened, served to one connection as the hub had it.
  const embedded = db.url === undefined ? await startEmbeddedPostgres(dataDir) : undefined
  const url = db.url ?? embedded?.url
  const connections = embedded ? 1 : AGENTS
  const clients: pg.Client[] = []
  try {
    for (let i = 0; i < connections; i++) {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      clients.push(c)
    }
    const [admin] = clients as [pg.Client]
    await admin.query('CREATE TABLE bench_reference_events (LIKE events INCLUDING ALL)')
    const { rows } = await admin.query<{ row: EventRow }>(
      `select json_build_array(tenant_id, agent_id, site_id, camera_id, seq::text, type, time, data::text) as row
         from events where type = 'sim' order by agent_id, seq`,
    )
    if (rows.length !== total) throw new Error(`the hub committed ${rows.length} events, not ${total}`)
    const byAgent = new Map<string, EventRow[][]>()
    for (const { row } of rows) {
      const batches = byAgent.get(row[1]) ?? []
      const last = batches.at(-1)
      if (last && last.length < BATCH) last.push(row)
      else batches.push([row])
      byAgent.set(row[1], batches)
    }
    const agents = [...byAgent.values()]
    const started = performance.now()
    await Promise.all(
      clients.map(async (client, i) => {
        for (let a = i; a < agents.length; a += connections)
          for (const batch of agents[a] ?? [])
            await client.query(insertStatement('bench_reference_events', batch.length), batch.flat())
      }),
    )
    return (performance.now() - started) / 1000
  } finally {
    for (const c of clients) await c.end().catch(() => undefined)
    await embedded?.close()
  }
}
