import { createHash } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import type { SpooledRecord } from './spool.ts'

/**
 * Audit records the database would not take although it was up: set aside here, on this hub's
 * disk, so that one bad record never blocks the ones behind it. Kept for auditors (listed by the
 * API, counted by readiness, metrics and verification), never deleted by the hub.
 *
 * JSON lines with checksums, like the spool. JSON.stringify escapes lone surrogates, so even a
 * record holding them is written as valid UTF-8 and read back exactly.
 */
export interface QuarantinedRecord {
  /** The record exactly as it was spooled or submitted. */
  record: SpooledRecord
  /** Why the database refused it (the last error). */
  error: string
  /** When it was set aside. */
  at: string
}

const FILE = 'quarantine.jsonl'

function checksum(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16)
}

export class AuditQuarantine {
  private readonly ids = new Set<string>()
  private lines = 0

  constructor(readonly dir: string) {
    for (const q of this.list()) this.ids.add(q.record.eventId)
  }

  private get file(): string {
    return path.join(this.dir, FILE)
  }

  /** True when a record with this event id is already set aside. */
  has(eventId: string): boolean {
    return this.ids.has(eventId)
  }

  /** Records set aside on this hub, ever. */
  count(): number {
    return this.lines
  }

  /** Appends and fsyncs; false (and nothing written) when the record is already here. */
  add(record: SpooledRecord, error: unknown, now = new Date()): boolean {
    if (this.ids.has(record.eventId)) return false
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const body = JSON.stringify({
      record,
      error: (error instanceof Error ? error.message : String(error)).slice(0, 500),
      at: now.toISOString(),
    } satisfies QuarantinedRecord)
    const fd = openSync(this.file, 'a', 0o600)
    try {
      writeSync(fd, `${JSON.stringify({ c: checksum(body), r: body })}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.ids.add(record.eventId)
    this.lines++
    return true
  }

  /** Every record set aside, oldest first (lines that do not check out are skipped). */
  list(): QuarantinedRecord[] {
    if (!existsSync(this.file)) {
      this.lines = 0
      return []
    }
    const out: QuarantinedRecord[] = []
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (!line) continue
      try {
        const { c, r } = JSON.parse(line) as { c: string; r: string }
        if (checksum(r) === c) out.push(JSON.parse(r) as QuarantinedRecord)
      } catch {
        // a line torn by a power cut: its record was still in the spool, and is set aside again
      }
    }
    this.lines = out.length
    return out
  }
}
