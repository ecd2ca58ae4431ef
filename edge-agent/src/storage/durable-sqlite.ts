import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'

/**
 * The agent's SQLite files (outbox, recording index) open one way: WAL with synchronous=FULL, so
 * a committed transaction survives a power cut (what the outbox's acknowledgements and the index's
 * repair rely on), in a directory only the agent reads.
 */
export function openDurableSqlite(file: string): Database.Database {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 10000')
  return db
}
