import { describe, expect, it } from 'vitest'
import { type ChainRecord, canonicalJson, GENESIS_HASH, recordHash } from './chain.ts'

const base: ChainRecord = {
  eventId: '00000000-0000-4000-8000-000000000001',
  tenantId: '00000000-0000-4000-8000-000000000002',
  seq: 1,
  time: new Date('2026-11-24T10:00:00.123Z'),
  actorType: 'user',
  actorId: 'u1',
  actorName: 'alice',
  action: 'user.update',
  targetType: 'user',
  targetId: 'u2',
  outcome: 'success',
  reason: null,
  clientIp: '10.0.0.1',
  userAgent: null,
  details: { fields: ['displayName'], b: 1, a: { y: 2, x: 1 } },
}

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"e":2,"f":1}]},"b":1}',
    )
  })

  it('is stable however the object was built (e.g. after a jsonb round trip)', () => {
    expect(canonicalJson(JSON.parse(JSON.stringify({ z: 1, a: 2 })))).toBe(canonicalJson({ a: 2, z: 1 }))
  })
})

describe('recordHash', () => {
  it('changes with any field and with the previous hash', () => {
    const h = recordHash(base, GENESIS_HASH)
    expect(h).toMatch(/^[0-9a-f]{64}$/)
    expect(recordHash({ ...base }, GENESIS_HASH)).toBe(h)
    expect(recordHash({ ...base, details: { ...base.details, b: 2 } }, GENESIS_HASH)).not.toBe(h)
    expect(recordHash({ ...base, seq: 2 }, GENESIS_HASH)).not.toBe(h)
    expect(recordHash({ ...base, time: new Date(base.time.getTime() + 1) }, GENESIS_HASH)).not.toBe(h)
    expect(recordHash(base, h)).not.toBe(h)
  })
})
