import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts'

/**
 * A database of its own for one test file. With VMS_TEST_DATABASE_URL (CI: the machine's
 * PostgreSQL) it creates a fresh database on that server and drops it afterwards; without it, an
 * in-memory PGlite served over a local socket, so tests pass on any machine.
 */
export interface TestDatabase {
  url: string
  poolMax: number
  kind: 'postgres' | 'pglite'
  /** Runs SQL as the database owner (a superuser on test servers). */
  adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>
  /** Runs `work` on one dedicated owner connection (for multi-statement transactions). */
  withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T>
  drop(): Promise<void>
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.VMS_TEST_DATABASE_URL
  if (serverUrl) {
    const name = `vms_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
    const admin = new pg.Client({ connectionString: serverUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    await admin.end()
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    const owner = new pg.Client({ connectionString: url.toString() })
    await owner.connect()
    return {
      url: url.toString(),
      poolMax: 10,
      kind: 'postgres',
      adminQuery: (sql, params) => owner.query(sql, params as unknown[]),
      async withAdminClient(work) {
        const c = new pg.Client({ connectionString: url.toString() })
        await c.connect()
        try {
          return await work(c)
        } finally {
          await c.end()
        }
      },
      async drop() {
        await owner.end()
        const c = new pg.Client({ connectionString: serverUrl })
        await c.connect()
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        await c.end()
      },
    }
  }
  const embedded = await startEmbeddedPostgres(undefined, 3)
  const withClient = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: embedded.url })
    await c.connect()
    try {
      return await work(c)
    } finally {
      await c.end()
    }
  }
  // The hub's pool holds one connection; admin queries use a second, short-lived one while the
  // test is not running hub traffic (see startEmbeddedPostgres).
  return {
    url: embedded.url,
    poolMax: embedded.poolMax,
    kind: 'pglite',
    adminQuery: (sql, params) => withClient((c) => c.query(sql, params as unknown[])),
    withAdminClient: withClient,
    drop: () => embedded.close(),
  }
}
