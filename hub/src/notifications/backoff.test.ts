import { describe, expect, it } from 'vitest'
import { retryDelayMs } from './backoff.ts'

describe('retryDelayMs', () => {
  it('doubles per attempt, jittered within the upper half', () => {
    expect(retryDelayMs(1, 1000, () => 0)).toBe(500)
    expect(retryDelayMs(1, 1000, () => 1)).toBe(1000)
    expect(retryDelayMs(2, 1000, () => 1)).toBe(2000)
    expect(retryDelayMs(4, 1000, () => 0.5)).toBe(6000)
    for (let i = 0; i < 100; i++) {
      const d = retryDelayMs(3, 1000)
      expect(d).toBeGreaterThanOrEqual(2000)
      expect(d).toBeLessThanOrEqual(4000)
    }
  })

  it('is capped, even for absurd attempt counts', () => {
    expect(retryDelayMs(50, 5000, () => 1)).toBe(3_600_000)
    expect(retryDelayMs(1_000_000, 5000, () => 1, 60_000)).toBe(60_000)
    expect(retryDelayMs(0, 100, () => 1)).toBe(100)
  })
})
