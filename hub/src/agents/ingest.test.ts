import type { OutboxMessage } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { agentAuditEventId, contiguousRun } from './ingest.ts'

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
