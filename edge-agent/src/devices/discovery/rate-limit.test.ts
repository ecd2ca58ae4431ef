import { describe, expect, it } from 'vitest'
import { RateLimiter } from './rate-limit.ts'

describe('RateLimiter', () => {
  it('allows a burst, then one start per interval, and refuses starts past the deadline', async () => {
    let now = 1000
    const limiter = new RateLimiter(1000, 3, () => now) // 1 ms interval: waits stay tiny
    const results: boolean[] = []
    for (let i = 0; i < 3; i++) results.push(await limiter.take(now + 10))
    expect(results).toEqual([true, true, true])
    // The burst is spent: the next slot is in the future, and past a deadline of "now" it is refused.
    expect(await limiter.take(now - 1)).toBe(false)
    now += 100 // idle time refills the burst
    expect(await limiter.take(now)).toBe(true)
  })

  it('stops at once when aborted', async () => {
    const limiter = new RateLimiter(1, 1) // no burst: the second start waits a second
    expect(await limiter.take()).toBe(true)
    const ac = new AbortController()
    const pending = limiter.take(Number.POSITIVE_INFINITY, ac.signal)
    ac.abort()
    expect(await pending).toBe(false)
    expect(() => new RateLimiter(0)).toThrow(RangeError)
  })
})
