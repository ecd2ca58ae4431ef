import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

/**
 * Embedded PostgreSQL for a hub started without VMS_DATABASE_URL: PGlite (Postgres compiled to
 * WebAssembly) served over the Postgres wire protocol on a local socket, so the hub talks to it
 * through the very same driver, ORM, roles and row-level security as to a real server.
 *
 * PGlite is one backend session. The socket server therefore admits one connection, and the hub's
 * pool is sized 1 to match: concurrent transactions queue instead of interleaving in one session.
 */
export interface EmbeddedPostgres {
  /** For pg-style clients (pg-connection-string understands ?host=<socket dir>). */
  url: string
  /** Explicit connection fields (MikroORM drops URL query parameters such as host). */
  connection: { host: string; port: number; user: string; database: string }
  /** Largest pool the hub may open against this server. */
  poolMax: number
  close(): Promise<void>
}

const SOCKET_PATH_MAX = 100 // sun_path is 104-108 bytes depending on the OS

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** One hub per data directory: PGlite does not lock its files itself. */
function acquireLock(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 })
      return () => rmSync(lockFile, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number.parseInt(readFileSync(lockFile, 'utf8'), 10)
      if (Number.isInteger(holder) && isAlive(holder)) {
        throw new Error(`the embedded database in ${path.dirname(lockFile)} is in use by process ${holder}`)
      }
      rmSync(lockFile, { force: true }) // stale: its process is gone
    }
  }
  throw new Error(`cannot lock ${lockFile}`)
}

/**
 * `dataDir` undefined: an in-memory database (tests). `maxConnections` above 1 is for tests only,
 * which look at the database beside an idle hub: outside explicit transactions the server may
 * interleave two clients' protocol messages in PGlite's single session.
 */
export async function startEmbeddedPostgres(dataDir?: string, maxConnections = 1): Promise<EmbeddedPostgres> {
  let release = () => {}
  let db: PGlite
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    release = acquireLock(path.join(dataDir, 'hub.lock'))
    db = await PGlite.create({ dataDir: path.join(dataDir, 'pgdata') })
  } else {
    db = await PGlite.create()
  }

  const socketDir = dataDir ? path.join(dataDir, 'socket') : undefined
  const socketFile = socketDir ? path.join(socketDir, '.s.PGSQL.5432') : undefined
  const useUnixSocket =
    socketFile !== undefined && socketFile.length < SOCKET_PATH_MAX && process.platform !== 'win32'

  // A Unix socket in a 0700 directory where possible: PGlite has no authentication, so a loopback
  // TCP port would let any local user in.
  let server: PGLiteSocketServer
  let connection: EmbeddedPostgres['connection']
  let url: string
  if (useUnixSocket && socketDir && socketFile) {
    mkdirSync(socketDir, { recursive: true, mode: 0o700 })
    rmSync(socketFile, { force: true })
    server = new PGLiteSocketServer({ db, path: socketFile, maxConnections })
    await server.start()
    connection = { host: socketDir, port: 5432, user: 'postgres', database: 'postgres' }
    url = `postgres://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}`
  } else {
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections })
    await server.start()
    const port = Number(server.getServerConn().split(':').pop())
    connection = { host: '127.0.0.1', port, user: 'postgres', database: 'postgres' }
    url = `postgres://postgres@127.0.0.1:${port}/postgres`
  }

  return {
    url,
    connection,
    poolMax: 1,
    async close() {
      await server.stop()
      await db.close()
      release()
    },
  }
}
