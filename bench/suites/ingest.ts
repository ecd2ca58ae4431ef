import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { loadConfig } from '../../hub/src/config/config.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { startHub } from '../../hub/src/server.ts'
import { issueTestLicense, testVendor } from '../../hub/test/helpers/licenses.ts'
import { enrollSimAgent, eventBatch, runSimAgent } from '../../scripts/fleet-sim.ts'
import type { BenchResult } from '../run.ts'

const AGENTS = 10
const EVENTS = 5000
const BATCH = 500

/**
 * Sustained ingest: events/s from the broker to committed PostgreSQL rows (exactly-once path:
 * validation, per-agent ordering, one transaction per batch, acks), for a simulated fleet; beside
 * it, the raw throughput of the same broker software moving the same batches to a subscriber that
 * only counts them. The ratio is what the hub's guarantees cost.
 * Uses VMS_BENCH_DATABASE_URL when set, else the embedded PGlite.
 */
export async function benchIngest(): Promise<BenchResult[]> {
  const total = AGENTS * EVENTS

  // Reference: a bare aedes broker and a counting subscriber.
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
  const rawSeconds = (performance.now() - rawStart) / 1000
  for (const p of [...publishers, sink]) await p.endAsync(true)
  await new Promise<void>((r) => aedes.close(() => r()))
  server.close()

  // Subject: the hub.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-ingest-'))
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
      ...(process.env.VMS_BENCH_DATABASE_URL ? { VMS_DATABASE_URL: process.env.VMS_BENCH_DATABASE_URL } : {}),
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
    const seconds = (performance.now() - started) / 1000
    return [
      {
        name: 'ingest',
        subject: { label: `hub ingest (${AGENTS} agents, committed rows)`, opsPerSec: total / seconds },
        reference: { label: 'raw broker (aedes to a counting subscriber)', opsPerSec: total / rawSeconds },
        ratio: seconds / rawSeconds,
        notes: `${total} events; ${process.env.VMS_BENCH_DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}`,
      },
    ]
  } finally {
    await hub.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
