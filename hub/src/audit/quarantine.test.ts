import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isRecordRejected } from './durable-audit-log.ts'
import { AuditQuarantine } from './quarantine.ts'
import type { SpooledRecord } from './spool.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function record(n: number, details: Record<string, unknown> = { n }): SpooledRecord {
  return {
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    tenantId: '00000000-0000-4000-8000-000000000000',
    time: new Date(1_700_000_000_000 + n).toISOString(),
    actorType: 'user',
    actorId: null,
    actorName: null,
    action: `test.${n}`,
    targetType: null,
    targetId: null,
    outcome: 'failure',
    reason: null,
    clientIp: null,
    userAgent: null,
    details,
  }
}

describe('AuditQuarantine', () => {
  it('keeps records exactly (lone surrogates included), once each, across reopening', () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'audit-q-')), 'q')
    dirs.push(path.dirname(dir))
    const q = new AuditQuarantine(dir)
    expect(q.count()).toBe(0)
    expect(
      q.add(
        record(1, { tenant: '\ud800', nul: 'a\u0000b' }),
        new Error('invalid input syntax for type json'),
      ),
    ).toBe(true)
    expect(q.add(record(1), new Error('again'))).toBe(false)
    expect(q.add(record(2), 'a string error')).toBe(true)
    appendFileSync(path.join(dir, 'quarantine.jsonl'), '{"c":"torn')
    const reopened = new AuditQuarantine(dir)
    expect(reopened.count()).toBe(2)
    expect(reopened.has(record(1).eventId)).toBe(true)
    const [first, second] = reopened.list()
    expect(first?.record.details).toEqual({ tenant: '\ud800', nul: 'a\u0000b' })
    expect(first?.error).toBe('invalid input syntax for type json')
    expect(second?.error).toBe('a string error')
  })
})

describe('isRecordRejected', () => {
  it('convicts the record for data exceptions and integrity violations, not for the database being unwell', () => {
    expect(isRecordRejected({ code: '22P02' })).toBe(true) // invalid JSON (lone surrogate)
    expect(isRecordRejected({ code: '22P05' })).toBe(true) // \u0000 in jsonb
    expect(isRecordRejected({ sqlState: '22009' })).toBe(true) // time out of range
    expect(isRecordRejected({ code: '23514' })).toBe(true) // check constraint
    expect(isRecordRejected(Object.assign(new Error('wrapped'), { cause: { code: '22021' } }))).toBe(true)
    expect(isRecordRejected({ code: '23505' })).toBe(false) // a concurrent writer of the same record
    expect(isRecordRejected({ code: '57014' })).toBe(false) // statement timeout
    expect(isRecordRejected({ code: '08006' })).toBe(false) // connection failure
    expect(isRecordRejected({ code: 'ECONNREFUSED' })).toBe(false)
    expect(isRecordRejected(new Error('no code'))).toBe(false)
    expect(isRecordRejected(undefined)).toBe(false)
  })
})
