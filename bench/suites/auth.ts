import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../hub/src/config/config.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { startHub } from '../../hub/src/server.ts'
import type { BenchResult } from '../run.ts'
import { type BenchDatabase, withBenchDatabase } from './bench-database.ts'
import { opsPerSecond } from './measure.ts'

/**
 * An authenticated API read (token verification, principal and bindings from the database under
 * RLS, the query, JSON) against GET /healthz on the same hub: what authorisation costs per request.
 * On a database of its own when VMS_BENCH_DATABASE_URL is set, else the embedded PGlite.
 */
export function benchAuth(): Promise<BenchResult[]> {
  return withBenchDatabase('auth', benchAuthOn)
}

async function benchAuthOn(db: BenchDatabase): Promise<BenchResult[]> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-'))
  const password = 'Bench-Root-Passphrase-77'
  const config = loadConfig(
    {},
    {
      VMS_HTTP_PORT: 0,
      VMS_MQTT_PORT: 0,
      VMS_DATA_DIR: dataDir,
      VMS_BOOTSTRAP_ADMIN_PASSWORD: password,
      // The per-user API limit (600/min) would answer most of the measured requests with 429.
      VMS_API_RATE_PER_MINUTE: 100_000_000,
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
    const headers = { authorization: `Bearer ${accessToken}` }
    const subject = await opsPerSecond(async () => {
      const res = await fetch(`${hub.url}/api/v1/sites`, { headers })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`GET /api/v1/sites answered ${res.status}`)
    })
    const reference = await opsPerSecond(async () => {
      const res = await fetch(`${hub.url}/healthz`)
      await res.arrayBuffer()
    })
    return [
      {
        name: 'auth',
        subject: { label: 'GET /api/v1/sites (authenticated)', opsPerSec: subject },
        reference: { label: 'GET /healthz', opsPerSec: reference },
        ratio: reference / subject,
        notes: db.label,
      },
    ]
  } finally {
    await hub.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
