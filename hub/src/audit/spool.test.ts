import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { AuditSpool, type SpooledRecord } from './spool.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function record(n: number): SpooledRecord {
  return {
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    tenantId: '00000000-0000-4000-8000-000000000000',
    time: new Date(1_700_000_000_000 + n).toISOString(),
    actorType: 'system',
    actorId: null,
    actorName: null,
    action: `test.${n}`,
    targetType: null,
    targetId: null,
    outcome: 'success',
    reason: null,
    clientIp: null,
    userAgent: null,
    details: { n },
  }
}

describe('AuditSpool', () => {
  it('keeps records in order across replay hand-overs', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spool-'))
    dirs.push(dir)
    const spool = new AuditSpool(dir)
    expect(spool.isEmpty()).toBe(true)
    spool.append([record(1), record(2)])
    const first = spool.takeForReplay()
    spool.append([record(3)])
    expect(spool.count()).toBe(3)
    expect(new AuditSpool(dir).count()).toBe(3) // counted again from disk after a restart
    const both = spool.takeForReplay()
    expect(both).toEqual([first[0], expect.stringMatching(/replay-2\.jsonl$/)])
    const all = both.flatMap((f) => AuditSpool.read(f).records.map((r) => r.action))
    expect(all).toEqual(['test.1', 'test.2', 'test.3'])
    for (const f of both) spool.done(f)
    expect(spool.isEmpty()).toBe(true)
    expect(spool.count()).toBe(0)
    spool.close()
  })

  it('skips a torn last line and corrupted lines', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spool-'))
    dirs.push(dir)
    const spool = new AuditSpool(dir)
    spool.append([record(1)])
    spool.close()
    appendFileSync(path.join(dir, 'spool.jsonl'), '{"c":"0000","r":"{}"}\n{"c":"abc","r":"{\\"even')
    const [file] = new AuditSpool(dir).takeForReplay()
    const read = AuditSpool.read(file as string)
    expect(read.records.map((r) => r.action)).toEqual(['test.1'])
    expect(read.skipped).toBe(2)
  })
})
