import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { type CheckResult, checkFailed, checkPassed, errorText } from '@ts-vms/shared'
import { Redis } from 'ioredis'
import pg from 'pg'

/** The hub's own checks (ports, disks and certificates are in @ts-vms/shared). */

/** The URL without its password, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(not a URL)'
  }
}

/** Connects and asks `select version()`: resolves the server's version line. */
export async function postgresVersion(url: string, timeoutMs = 5000): Promise<string> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    const r = await client.query<{ version: string }>('select version() as version')
    return r.rows[0]?.version ?? 'unknown'
  } finally {
    await client.end().catch(() => {})
  }
}

/** VMS_DATABASE_URL: the server answers and lets the hub in. */
export async function checkExternalDatabase(
  url: string,
  version: (url: string) => Promise<string> = postgresVersion,
): Promise<CheckResult> {
  const shown = redactUrl(url)
  try {
    const v = await version(url)
    return checkPassed('database', `${shown}: ${/^PostgreSQL \S+/.exec(v)?.[0] ?? v}`)
  } catch (err) {
    const message = errorText(err)
    const code = (err as { code?: string }).code
    const fix =
      code === '28P01' || code === '28000'
        ? 'check the user and password in VMS_DATABASE_URL (and pg_hba.conf on the server)'
        : code === '3D000'
          ? 'create the database (createdb ...) or fix its name in VMS_DATABASE_URL'
          : 'start PostgreSQL (systemctl status postgresql) and check the host and port in VMS_DATABASE_URL'
    return checkFailed('database', `${shown}: ${message}`, fix)
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * No VMS_DATABASE_URL: the embedded PostgreSQL (PGlite) in the data folder. Not opened here (one
 * process at a time may); the line says whether it exists and whether a running hub holds it.
 */
export function checkEmbeddedDatabase(dataDir: string): CheckResult {
  const pgdata = path.join(dataDir, 'pgdata')
  const lock = path.join(dataDir, 'hub.lock')
  if (existsSync(lock)) {
    const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10)
    if (Number.isInteger(pid) && pid !== process.pid && pidAlive(pid)) {
      return checkPassed(
        'database',
        `embedded (PGlite) in ${pgdata}, in use by the running hub (process ${pid})`,
      )
    }
  }
  if (existsSync(pgdata)) return checkPassed('database', `embedded (PGlite) in ${pgdata}`)
  return checkPassed(
    'database',
    `embedded (PGlite): created in ${pgdata} at the first start (for production set VMS_DATABASE_URL)`,
  )
}

/** Connects, PINGs and quits: resolves the server's answer. */
export async function redisPing(url: string, timeoutMs = 3000): Promise<string> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.ping()
  } finally {
    client.disconnect()
  }
}

/** VMS_REDIS_URL, when set: the server answers PING. */
export async function checkRedis(
  url: string | undefined,
  ping: (url: string) => Promise<string> = redisPing,
): Promise<CheckResult> {
  if (!url)
    return checkPassed('redis', 'not set (VMS_REDIS_URL): limits are kept in this process (fine for one hub)')
  const shown = redactUrl(url)
  try {
    const answer = await ping(url)
    return checkPassed('redis', `${shown} answers ${answer}`)
  } catch (err) {
    return checkFailed(
      'redis',
      `${shown}: ${errorText(err)}`,
      'start Redis (systemctl status redis-server) and check VMS_REDIS_URL (host, port, password), or unset it to run without',
    )
  }
}
