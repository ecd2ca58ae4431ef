import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { MemoryRateLimitStore } from './memory-store.ts'
import { ResilientRateLimitStore } from './resilient-store.ts'
import type { RateLimitStore } from './sliding-window.ts'

describe('ResilientRateLimitStore', () => {
  it('falls back to memory while the primary fails and returns when it recovers', async () => {
    let failing = false
    const primaryMemory = new MemoryRateLimitStore()
    const primary: RateLimitStore = {
      apply: (...args) =>
        failing ? Promise.reject(new Error('ECONNREFUSED')) : primaryMemory.apply(...args),
    }
    const fallback = new MemoryRateLimitStore()
    const states: boolean[] = []
    let fallbacks = 0
    const store = new ResilientRateLimitStore(primary, fallback, pino({ level: 'silent' }), {
      degraded: (on) => states.push(on),
      fallback: () => fallbacks++,
    })
    const rule = { name: 'r', limit: 2, windowMs: 60_000 }
    expect((await store.apply('k', rule, 'hit')).allowed).toBe(true)
    failing = true
    expect((await store.apply('k', rule, 'hit')).allowed).toBe(true)
    expect((await store.apply('k', rule, 'hit')).allowed).toBe(true)
    // Limits stay enforced in memory: never open wide.
    expect((await store.apply('k', rule, 'hit')).allowed).toBe(false)
    expect(store.isDegraded).toBe(true)
    failing = false
    expect((await store.apply('k', rule, 'hit')).allowed).toBe(true)
    expect((await store.apply('k', rule, 'hit')).allowed).toBe(false)
    expect(states).toEqual([true, false])
    expect(fallbacks).toBe(3)
    primaryMemory.close()
    fallback.close()
  })
})
