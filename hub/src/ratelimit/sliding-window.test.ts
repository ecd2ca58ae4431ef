import { describe, expect, it } from 'vitest'
import { MemoryRateLimitStore } from './memory-store.ts'
import { estimate, waitSeconds } from './sliding-window.ts'

const rule = { name: 't', limit: 10, windowMs: 60_000 }

describe('sliding window counter', () => {
  it('weights the previous window by how much of it still overlaps', () => {
    expect(estimate({ previous: 10, current: 0 }, 60_000, 60_000)).toBe(10)
    expect(estimate({ previous: 10, current: 0 }, 90_000, 60_000)).toBe(5)
    expect(estimate({ previous: 10, current: 3 }, 105_000, 60_000)).toBeCloseTo(5.5)
  })

  it('tells how long to wait', () => {
    expect(waitSeconds({ previous: 0, current: 5 }, 10_000, rule, 1)).toBe(0)
    // Full this window: wait until the next window lets one through (10 * (1 - 9/10) = 6 s in).
    expect(waitSeconds({ previous: 0, current: 10 }, 0, rule, 1)).toBe(66)
    // Previous window full, nothing yet: one fits once 10 % of it has slid out.
    expect(waitSeconds({ previous: 10, current: 0 }, 0, rule, 1)).toBe(6)
  })
})

describe('MemoryRateLimitStore', () => {
  it('allows up to the limit, then refuses until the window slides', async () => {
    let now = 1_000_000_000_000
    const store = new MemoryRateLimitStore(() => now)
    for (let i = 0; i < 10; i++) expect((await store.apply('k', rule, 'hit')).allowed).toBe(true)
    const refused = await store.apply('k', rule, 'hit')
    expect(refused).toMatchObject({ allowed: false, remaining: 0 })
    expect(refused.retryAfterSeconds).toBeGreaterThan(0)
    expect((await store.apply('other', rule, 'hit')).allowed).toBe(true)
    now += refused.retryAfterSeconds * 1000
    expect((await store.apply('k', rule, 'hit')).allowed).toBe(true)
    now += 3 * rule.windowMs
    expect((await store.apply('k', rule, 'peek')).remaining).toBe(10)
    store.close()
  })

  it('peeks without counting and forces past the limit', async () => {
    const now = 1_000_000_000_000
    const store = new MemoryRateLimitStore(() => now)
    for (let i = 0; i < 20; i++) await store.apply('k', rule, 'peek')
    expect((await store.apply('k', rule, 'peek')).allowed).toBe(true)
    for (let i = 0; i < 12; i++) await store.apply('k', rule, 'force')
    expect((await store.apply('k', rule, 'peek')).allowed).toBe(false)
    store.close()
  })
})
