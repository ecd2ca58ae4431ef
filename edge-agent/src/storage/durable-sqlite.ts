import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'

/**
 * The agent's SQLite files (outbox, recording index) open one way: WAL with synchronous=FULL, so
 * a committed transaction survives a power cut (what the outbox's acknowledgements and the index's
 * repair rely on), in a directory only the agent reads.
 *
 * `walLimitBytes` (opt-in) bounds the WAL file: SQLite checkpoints every 1,000 pages (4 MB) by
 * default and then reuses the file at that size forever; with a limit it checkpoints at that size
 * and truncates the file back to it afterwards. `checkpoint()` empties it.
 */
export interface DurableSqliteOptions {
  walLimitBytes?: number
}

export function openDurableSqlite(file: string, options: DurableSqliteOptions = {}): Database.Database {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 10000')
  if (options.walLimitBytes !== undefined) {
    const pageSize = db.pragma('page_size', { simple: true }) as number
    db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(options.walLimitBytes / pageSize))}`)
    db.pragma(`journal_size_limit = ${Math.floor(options.walLimitBytes)}`)
  }
  return db
}

/** Moves the WAL into the database and truncates it to nothing (after a big delete, say). */
export function checkpoint(db: Database.Database): void {
  db.pragma('wal_checkpoint(TRUNCATE)')
}
