import { createHash } from 'node:crypto'
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'
import type { ChainRecord } from './chain.ts'

/**
 * The audit spool: when the database cannot take audit records, they are appended here and fsynced
 * before the caller is told they are recorded, then replayed in order when the database is back.
 *
 * Files are JSON lines, each with a checksum, so a line torn by a power cut is recognised and
 * ignored (it was never acknowledged). New records go to `spool.jsonl`; replay first renames it to
 * `replay-<n>.jsonl`, so appends and replay never share a file, and deletes a replay file only
 * after all its records are committed.
 */
/** A record before it joins a chain: no sequence number yet, time as ISO text. */
export type SpooledRecord = Omit<ChainRecord, 'seq' | 'time'> & { time: string }

const ACTIVE = 'spool.jsonl'

function checksum(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16)
}

function fsyncDir(dir: string) {
  try {
    const fd = openSync(dir, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Some platforms (Windows) cannot open directories; the file's own fsync still holds.
  }
}

function lineCount(file: string): number {
  try {
    let n = 0
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line) n++
    return n
  } catch {
    return 0
  }
}

export class AuditSpool {
  private fd: number | undefined
  /** Records waiting (lines in the active and replay files), kept current by append and done. */
  private waiting: number

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    this.waiting = [ACTIVE, ...this.replayFiles()].reduce((n, f) => n + lineCount(path.join(this.dir, f)), 0)
  }

  /** How many records wait in the spool (torn lines included until their file is replayed). */
  count(): number {
    return this.waiting
  }

  /** Appends and fsyncs. When this returns, the records survive a crash or power cut. */
  append(records: SpooledRecord[]): void {
    if (records.length === 0) return
    if (this.fd === undefined) {
      const file = path.join(this.dir, ACTIVE)
      const created = !existsSync(file)
      this.fd = openSync(file, 'a', 0o600)
      if (created) fsyncDir(this.dir)
    }
    const text = records
      .map((r) => {
        const body = JSON.stringify(r)
        return `${JSON.stringify({ c: checksum(body), r: body })}\n`
      })
      .join('')
    writeSync(this.fd, text)
    fsyncSync(this.fd)
    this.waiting += records.length
  }

  /** True when nothing waits in the spool. */
  isEmpty(): boolean {
    return this.replayFiles().length === 0 && this.activeSize() === 0
  }

  private activeSize(): number {
    try {
      return statSync(path.join(this.dir, ACTIVE)).size
    } catch {
      return 0
    }
  }

  private replayFiles(): string[] {
    return readdirSync(this.dir)
      .filter((f) => /^replay-\d+\.jsonl$/.test(f))
      .sort((a, b) => Number(a.slice(7, -6)) - Number(b.slice(7, -6)))
  }

  /**
   * Hands the active file over to replay (if it has anything) and returns every replay file in
   * order, oldest first.
   */
  takeForReplay(): string[] {
    if (this.activeSize() > 0) {
      if (this.fd !== undefined) {
        closeSync(this.fd)
        this.fd = undefined
      }
      const files = this.replayFiles()
      const next = files.length > 0 ? Number(files.at(-1)?.slice(7, -6)) + 1 : 1
      renameSync(path.join(this.dir, ACTIVE), path.join(this.dir, `replay-${next}.jsonl`))
      fsyncDir(this.dir)
    }
    return this.replayFiles().map((f) => path.join(this.dir, f))
  }

  /** The intact records of a file, in order; torn or corrupt lines are skipped. */
  static read(file: string): { records: SpooledRecord[]; skipped: number } {
    const records: SpooledRecord[] = []
    let skipped = 0
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue
      try {
        const { c, r } = JSON.parse(line) as { c: string; r: string }
        if (checksum(r) !== c) throw new Error('checksum')
        records.push(JSON.parse(r) as SpooledRecord)
      } catch {
        skipped++
      }
    }
    return { records, skipped }
  }

  done(file: string): void {
    this.waiting = Math.max(0, this.waiting - lineCount(file))
    rmSync(file, { force: true })
    fsyncDir(this.dir)
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}
