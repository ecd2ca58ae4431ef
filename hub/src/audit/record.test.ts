import { cleanText, isStorableText } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import type { AuditEvent } from './audit-log.ts'
import { canonicalJson, recordHash } from './chain.ts'
import { toRecord } from './record.ts'

const TENANT = '00000000-0000-4000-8000-000000000001'
const NOW = new Date('2026-11-28T12:00:00.000Z')

/** True when PostgreSQL's text and jsonb take the value as it is, so what was hashed is stored. */
function storableJson(value: unknown): boolean {
  const text = canonicalJson(value)
  return isStorableText(text) && !text.includes('\\u0000') && !/\\ud[89a-f]/i.test(text)
}

const HOSTILE = 'a\ud800b\udc00c\u0000d\u0001e\u001bf\u009bg'

describe('toRecord (the audit boundary)', () => {
  it("cleans the failed-login record of the issue's attack (lone surrogate in details.tenant)", () => {
    const r = toRecord(
      {
        action: 'auth.login.failure',
        outcome: 'failure',
        actor: { type: 'user', id: null, name: 'x' },
        target: { type: 'user', id: null },
        reason: 'unknown_tenant',
        details: { tenant: '\ud800' },
      },
      TENANT,
      NOW,
    )
    expect(r.details).toEqual({ tenant: '\uFFFD' })
    expect(storableJson(r)).toBe(true)
  })

  it('cleans every text field and every details key and value, however deep', () => {
    const r = toRecord(
      {
        action: `x.${HOSTILE}`,
        outcome: 'denied',
        actor: { type: 'user', id: HOSTILE, name: HOSTILE },
        target: { type: HOSTILE, id: HOSTILE },
        reason: HOSTILE,
        clientIp: HOSTILE,
        userAgent: HOSTILE,
        details: { [HOSTILE]: [HOSTILE, { nested: { deeper: HOSTILE } }], n: Number.NaN },
      },
      TENANT,
      NOW,
    )
    // Storable, and nothing left that cleaning would change (no control characters either).
    for (const v of [
      r.action,
      r.actorId,
      r.actorName,
      r.targetType,
      r.targetId,
      r.reason,
      r.clientIp,
      r.userAgent,
    ])
      expect(isStorableText(v ?? '') && cleanText(v ?? '', { maxLength: 1000 }) === v).toBe(true)
    expect(r.actorName).toBe('a\uFFFDb\uFFFDcdefg')
    expect(storableJson(r.details)).toBe(true)
    expect(r.details).toEqual({
      'a\uFFFDb\uFFFDcdefg': ['a\uFFFDb\uFFFDcdefg', { nested: { deeper: 'a\uFFFDb\uFFFDcdefg' } }],
      n: null,
    })
  })

  it('never cuts a surrogate pair in half when it bounds a field', () => {
    const name = `${'x'.repeat(199)}😀😀`
    const r = toRecord({ action: 'a', outcome: 'success', actor: { type: 'user', name } }, TENANT, NOW)
    expect((r.actorName ?? '').length).toBeLessThanOrEqual(200)
    expect(isStorableText(r.actorName ?? '')).toBe(true)
  })

  it('keeps what is hashed identical to what jsonb gives back (a round trip through JSON)', () => {
    const r = toRecord(
      {
        action: 'a',
        outcome: 'success',
        actor: { type: 'system' },
        details: { when: new Date(0), skip: undefined, big: 1e21, list: [undefined, 1], line: 'a\nb\tc' },
      },
      TENANT,
      NOW,
    )
    const back = JSON.parse(JSON.stringify(r.details)) as Record<string, unknown>
    expect(back).toEqual(r.details)
    const chain = { ...r, seq: 1, time: new Date(r.time) }
    expect(recordHash({ ...chain, details: back }, '0'.repeat(64))).toBe(recordHash(chain, '0'.repeat(64)))
  })

  it('covers an agent audit message over MQTT as the ingest maps it (same toRecord)', () => {
    // The shape hub/src/agents/ingest.ts builds from an agent's `audit` outbox message: the agent
    // chooses action, actor name, target, reason and details, and the time it claims.
    const agentName = 'Store 12'
    const body = {
      action: `camera.ptz${HOSTILE}`,
      outcome: 'success' as const,
      actor: { type: 'user', name: `op\ud800` },
      target: { type: 'camera', id: `cam\u0000` },
      reason: `because\udc00`,
      details: { ['k\u0000']: 'v\ud800', nested: { x: ['\u0000'] } },
    }
    const event: AuditEvent = {
      eventId: '00000000-0000-5000-8000-000000000042',
      time: new Date('+275760-09-13T00:00:00.000Z'),
      action: body.action,
      outcome: body.outcome,
      tenantId: TENANT,
      actor: { type: 'agent', id: 'agent-1', name: `${agentName}: ${body.actor.name}` },
      target: { type: body.target.type, id: body.target.id },
      reason: body.reason,
      details: { ...body.details, agentSeq: 42, localActor: body.actor },
    }
    const r = toRecord(event, TENANT, NOW)
    expect(storableJson(r)).toBe(true)
    expect(r.actorName).toBe('Store 12: op\uFFFD')
    expect(r.targetId).toBe('cam')
    expect(r.details).toMatchObject({ k: 'v\uFFFD', nested: { x: [''] }, localActor: { name: 'op\uFFFD' } })
    // A time PostgreSQL cannot hold (or an absurd one) is replaced by the time of receipt; the
    // claim is kept as evidence.
    expect(r.time).toBe(NOW.toISOString())
    expect(r.details.claimedTime).toBe('+275760-09-13T00:00:00.000Z')
  })

  it('keeps a plausible claimed time as it is', () => {
    const time = new Date('2026-11-27T08:00:00.000Z')
    const r = toRecord({ action: 'a', outcome: 'success', actor: { type: 'agent' }, time }, TENANT, NOW)
    expect(r.time).toBe(time.toISOString())
    expect(r.details).toEqual({})
  })
})
