import { MAX_PAYLOAD_BYTES, type OutboxMessage } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { agentAuditEventId, contiguousRun, parseBatch } from './ingest.ts'

const msg = (seq: number): OutboxMessage => ({
  seq,
  type: 'event',
  at: '2026-11-24T10:00:00.000Z',
  body: { type: 'test' },
})

describe('contiguousRun', () => {
  it('takes the gap-free run after the acknowledged sequence, whatever the batch order', () => {
    expect(contiguousRun([msg(3), msg(1), msg(2), msg(5)], 0).map((m) => m.seq)).toEqual([1, 2, 3])
    expect(contiguousRun([msg(1), msg(2)], 2)).toEqual([])
    expect(contiguousRun([msg(4), msg(5)], 2)).toEqual([])
    expect(contiguousRun([msg(2), msg(3), msg(4)], 2).map((m) => m.seq)).toEqual([3, 4])
  })
})

describe('agentAuditEventId', () => {
  it('is a stable UUID per agent and sequence', () => {
    const a = agentAuditEventId('agent-a', 7)
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(agentAuditEventId('agent-a', 7)).toBe(a)
    expect(agentAuditEventId('agent-a', 8)).not.toBe(a)
    expect(agentAuditEventId('agent-b', 7)).not.toBe(a)
  })
})

describe('parseBatch (partial acknowledgement, issue 11)', () => {
  const at = '2026-11-24T10:00:00.000Z'
  it('checks each message on its own: an invalid one is rejected, the run continues past it', () => {
    const payload = JSON.stringify({
      v: 1,
      messages: [
        { seq: 1, type: 'event', at, body: { type: 'test' } },
        { seq: 2, type: 'event', at, body: { type: 'NOT VALID' } },
        { seq: 3, type: 'health', at, body: { nonsense: true } },
        { seq: 4, type: 'event', at, body: { type: 'test', data: { n: 4 } } },
        { type: 'event', at, body: { type: 'test' } }, // no seq: cannot be placed
      ],
    })
    const parsed = parseBatch(payload)
    expect(parsed.ok).toBe(true)
    if (!parsed.ok) return
    expect(parsed.entries).toHaveLength(4)
    const run = contiguousRun(parsed.entries, 0)
    expect(run.map((e) => ('rejected' in e ? `${e.seq}:${e.rejected}` : `${e.seq}`))).toEqual([
      '1',
      '2:invalid',
      '3:invalid',
      '4',
    ])
  })

  it('cleans text PostgreSQL would refuse (NUL, lone surrogates) instead of failing the batch', () => {
    const parsed = parseBatch(
      JSON.stringify({
        v: 1,
        messages: [{ seq: 1, type: 'event', at, body: { type: 'test', data: { s: 'a\u0000b\ud800c' } } }],
      }),
    )
    expect(parsed.ok && parsed.entries[0]).toMatchObject({ message: { body: { data: { s: 'ab\ufffdc' } } } })
  })

  it('refuses an oversize or unreadable publication as a whole', () => {
    expect(parseBatch('x'.repeat(MAX_PAYLOAD_BYTES + 1))).toEqual({ ok: false, error: 'oversize' })
    expect(parseBatch('{')).toEqual({ ok: false, error: 'malformed' })
    expect(parseBatch(JSON.stringify({ v: 1, messages: [] }))).toEqual({ ok: false, error: 'invalid' })
  })

  it('rejects an object event whose data is not a whole object event (issue 13)', () => {
    const data = {
      eventId: '0b8e5a52-1c7a-4a56-9c43-2f1d5b7f6c11',
      kind: 'new',
      reason: ['threshold'],
      label: 'person',
      score: 0.8,
      startTime: at,
      endTime: null,
      zones: [],
      box: [0.1, 0.1, 0.2, 0.2],
      stationary: false,
      loitering: false,
      hasSnapshot: false,
    }
    const parsed = parseBatch(
      JSON.stringify({
        v: 1,
        messages: [
          { seq: 1, type: 'event', at, body: { type: 'object', data } },
          { seq: 2, type: 'event', at, body: { type: 'object', data: { ...data, kind: 'moved' } } },
          { seq: 3, type: 'event', at, body: { type: 'object' } },
          // Emptied by cleaning (NUL): refused rather than stored without a label.
          { seq: 4, type: 'event', at, body: { type: 'object', data: { ...data, label: '\u0000' } } },
          { seq: 5, type: 'event', at, body: { type: 'motion', data: { kind: 'moved' } } },
        ],
      }),
    )
    expect(parsed.ok).toBe(true)
    if (!parsed.ok) return
    expect(parsed.entries.map((e) => ('rejected' in e ? e.rejected : 'ok'))).toEqual([
      'ok',
      'invalid_object_event',
      'invalid_object_event',
      'invalid_object_event',
      'ok',
    ])
  })
})
