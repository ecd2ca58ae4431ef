import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * The database a suite's hub runs on. With VMS_BENCH_DATABASE_URL (a PostgreSQL server the bench
 * may create databases on) each suite gets a fresh database of its own, dropped afterwards: a hub
 * seals secrets with the master key in its own data directory, so two suites sharing one database
 * would find each other's secrets unopenable. Without it, the hub's embedded PGlite in its data
 * directory, as a hub started without VMS_DATABASE_URL runs.
 */
export interface BenchDatabase {
  kind: 'postgres' | 'pglite'
  /** The suite's own database on the server; undefined on PGlite (the hub opens its own). */
  url: string | undefined
  /** Configuration entries for the suite's hub (none on PGlite). */
  hubConfig: { VMS_DATABASE_URL?: string }
  /** How the notes name it. */
  label: string
}

/** A name PostgreSQL takes unquoted: lower case, digits and underscores. */
function databaseName(suite: string): string {
  const slug = suite
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 20)
  return `vms_bench_${slug}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
}

async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** The suite's database, to `drop()` when done (nothing to drop on PGlite). */
export async function openBenchDatabase(
  suite: string,
  serverUrl = process.env.VMS_BENCH_DATABASE_URL,
): Promise<BenchDatabase & { drop(): Promise<void> }> {
  if (!serverUrl)
    return { kind: 'pglite', url: undefined, hubConfig: {}, label: 'embedded PGlite', drop: async () => {} }
  const name = databaseName(suite)
  await onServer(serverUrl, `CREATE DATABASE ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return {
    kind: 'postgres',
    url: url.toString(),
    hubConfig: { VMS_DATABASE_URL: url.toString() },
    label: 'PostgreSQL',
    // FORCE: connections a failed run left open do not keep the database.
    drop: () => onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  }
}

/**
 * Runs `work` with the suite's database: created first when VMS_BENCH_DATABASE_URL names a server,
 * and dropped after, whether `work` succeeded or not.
 */
export async function withBenchDatabase<T>(
  suite: string,
  work: (db: BenchDatabase) => Promise<T>,
  serverUrl = process.env.VMS_BENCH_DATABASE_URL,
): Promise<T> {
  const db = await openBenchDatabase(suite, serverUrl)
  try {
    return await work(db)
  } finally {
    await db.drop()
  }
}
