import {
  decide,
  estimate,
  type HitMode,
  type RateLimitRule,
  type RateLimitStore,
  windowStart,
} from './sliding-window.ts'

interface Entry {
  start: number
  previous: number
  current: number
  windowMs: number
}

/**
 * Rate limits in this process's memory: the default without Redis and the fallback when Redis is
 * unreachable. Stale keys are swept so memory stays bounded by the active key count.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly entries = new Map<string, Entry>()
  private readonly sweeper: NodeJS.Timeout

  constructor(
    private readonly now: () => number = Date.now,
    sweepMs = 60_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepMs)
    this.sweeper.unref()
  }

  private sweep() {
    const now = this.now()
    for (const [key, e] of this.entries) {
      if (now - e.start >= 2 * e.windowMs) this.entries.delete(key)
    }
  }

  async apply(key: string, rule: RateLimitRule, mode: HitMode, cost = 1) {
    const now = this.now()
    const start = windowStart(now, rule.windowMs)
    const fullKey = `${rule.name}:${key}`
    let e = this.entries.get(fullKey)
    if (!e || start - e.start >= 2 * rule.windowMs) {
      e = { start, previous: 0, current: 0, windowMs: rule.windowMs }
    } else if (start !== e.start) {
      e = { start, previous: e.current, current: 0, windowMs: rule.windowMs }
    }
    const fits = estimate(e, now, rule.windowMs) + cost <= rule.limit
    if (mode === 'force' || (mode === 'hit' && fits)) e.current += cost
    if (mode !== 'peek' || this.entries.has(fullKey)) this.entries.set(fullKey, e)
    return decide(e, now, rule, mode === 'force' ? true : fits, cost)
  }

  close() {
    clearInterval(this.sweeper)
  }
}
