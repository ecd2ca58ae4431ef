import { describe, expect, it, vi } from 'vitest'
import { Condition } from './condition.ts'

describe('Condition', () => {
  it('resolves when the state changes to what is awaited, or says no when the time is up', async () => {
    vi.useFakeTimers()
    const c = new Condition()
    let n = 0
    const reached = c.until(() => n >= 2, 1000)
    n = 1
    c.changed()
    n = 2
    c.changed()
    await expect(reached).resolves.toBe(true)
    const never = c.until(() => n >= 5, 1000)
    await vi.advanceTimersByTimeAsync(1000)
    await expect(never).resolves.toBe(false)
    expect(await c.until(() => true, 0)).toBe(true)
    vi.useRealTimers()
  })
})
