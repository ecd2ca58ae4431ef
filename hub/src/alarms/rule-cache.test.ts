import { describe, expect, it } from 'vitest'
import type { AlarmRule } from './alarm-rule.ts'
import { AlarmRuleCache } from './rule-cache.ts'

const rule = (tenantId: string, kind: AlarmRule['kind'], id = `${tenantId}-${kind}`): AlarmRule => ({
  id,
  tenantId,
  name: id,
  kind,
  scope: { type: 'tenant' },
  params: {},
  priority: 2,
  channels: [],
  enabled: true,
})

function setup(ttlMs = 1000) {
  let now = 0
  const stored = new Map<string, AlarmRule[]>()
  const loads: string[] = []
  const cache = new AlarmRuleCache(
    async (tenantId) => {
      loads.push(tenantId)
      return stored.get(tenantId) ?? []
    },
    ttlMs,
    () => now,
  )
  return { cache, stored, loads, advance: (ms: number) => (now += ms), now: () => now }
}

describe('AlarmRuleCache', () => {
  it('loads a tenant once and answers each kind from memory until the TTL', async () => {
    const { cache, stored, loads, advance } = setup()
    stored.set('t1', [rule('t1', 'object.zone'), rule('t1', 'recording.gap')])
    expect((await cache.enabled('t1', 'object.zone')).map((r) => r.id)).toEqual(['t1-object.zone'])
    expect((await cache.enabled('t1', 'recording.gap')).map((r) => r.id)).toEqual(['t1-recording.gap'])
    expect(loads).toEqual(['t1'])
    stored.set('t1', [])
    advance(999)
    expect(await cache.enabled('t1', 'object.zone')).toHaveLength(1)
    advance(1)
    expect(await cache.enabled('t1', 'object.zone')).toHaveLength(0)
    expect(loads).toEqual(['t1', 't1'])
  })

  it('forgets a tenant whose rules changed, not the others', async () => {
    const { cache, stored, loads } = setup()
    stored.set('t1', [rule('t1', 'object.zone')])
    stored.set('t2', [rule('t2', 'object.zone')])
    await cache.enabled('t1', 'object.zone')
    await cache.enabled('t2', 'object.zone')
    stored.set('t1', [])
    cache.invalidate('t1')
    expect(await cache.enabled('t1', 'object.zone')).toEqual([])
    expect(await cache.enabled('t2', 'object.zone')).toHaveLength(1)
    expect(loads).toEqual(['t1', 't2', 't1'])
  })

  it('is filled by a pass (tenants without rules included), unless a change came during its read', async () => {
    const { cache, stored, loads } = setup()
    stored.set('t1', [rule('t1', 'object.zone')])
    await cache.enabled('t1', 'object.zone')
    const generation = cache.currentGeneration()
    cache.fill([rule('t2', 'recording.gap')], 0, generation)
    expect(await cache.enabled('t1', 'object.zone')).toEqual([]) // the pass saw none for t1
    expect(await cache.enabled('t2', 'recording.gap')).toHaveLength(1)
    expect(loads).toEqual(['t1']) // neither asked the database: the pass's read answers both

    const before = cache.currentGeneration()
    cache.invalidate('t2') // a rule changed while the pass was reading
    cache.fill([], 0, before)
    stored.set('t2', [rule('t2', 'recording.gap'), rule('t2', 'recording.gap', 'new')])
    expect(await cache.enabled('t2', 'recording.gap')).toHaveLength(2)
  })

  it('a load that started before an invalidation does not fill the cache after it', async () => {
    let release: (rules: AlarmRule[]) => void = () => {}
    let calls = 0
    const cache = new AlarmRuleCache(
      (_tenantId) => {
        calls++
        return calls === 1 ? new Promise<AlarmRule[]>((r) => (release = r)) : Promise.resolve([])
      },
      60_000,
      () => 0,
    )
    const slow = cache.enabled('t1', 'object.zone')
    cache.invalidate('t1')
    release([rule('t1', 'object.zone')])
    expect(await slow).toHaveLength(1) // its caller gets what it read
    expect(await cache.enabled('t1', 'object.zone')).toEqual([]) // but it was not kept
    expect(calls).toBe(2)
  })
})
