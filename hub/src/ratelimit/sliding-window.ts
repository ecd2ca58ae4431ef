/**
 * Sliding-window rate limiting, the "sliding window counter" form: two fixed-window counters (this
 * window's and the previous one's), with the previous one weighted by how much of it still lies
 * inside the sliding window. Exact enough for abuse limits, O(1) memory per key, and easy to run
 * atomically in a Redis script. The same arithmetic serves the memory and the Redis stores.
 */
export interface RateLimitRule {
  /** Names the limit in keys, metrics and logs. */
  name: string
  limit: number
  windowMs: number
}

export interface Decision {
  allowed: boolean
  limit: number
  /** Requests left in the sliding window after this one. */
  remaining: number
  /** Seconds until the current fixed window ends (RateLimit-Reset). */
  resetSeconds: number
  /** When refused: seconds until a request of the same cost would be allowed. */
  retryAfterSeconds: number
}

export interface WindowState {
  previous: number
  current: number
}

export function windowStart(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs) * windowMs
}

export function estimate(state: WindowState, nowMs: number, windowMs: number): number {
  const elapsed = nowMs - windowStart(nowMs, windowMs)
  return (state.previous * (windowMs - elapsed)) / windowMs + state.current
}

/** Seconds from now until `cost` more requests fit, given the counts (0 if they fit now). */
export function waitSeconds(state: WindowState, nowMs: number, rule: RateLimitRule, cost: number): number {
  const { windowMs, limit } = rule
  const elapsed = nowMs - windowStart(nowMs, windowMs)
  if (estimate(state, nowMs, windowMs) + cost <= limit) return 0
  let waitMs: number
  if (state.current + cost <= limit) {
    // Enough once the previous window has slid far enough out.
    const needed = windowMs * (1 - (limit - cost - state.current) / state.previous)
    waitMs = needed - elapsed
  } else {
    // This window's count itself must slide out: into the next window.
    const intoNext = state.current > 0 ? windowMs * Math.max(0, 1 - (limit - cost) / state.current) : 0
    waitMs = windowMs - elapsed + intoNext
  }
  return Math.max(1, Math.ceil(waitMs / 1000))
}

/** The decision after the counts were (or were not) updated. */
export function decide(
  state: WindowState,
  nowMs: number,
  rule: RateLimitRule,
  allowed: boolean,
  cost: number,
): Decision {
  const used = estimate(state, nowMs, rule.windowMs)
  const elapsed = nowMs - windowStart(nowMs, rule.windowMs)
  return {
    allowed,
    limit: rule.limit,
    remaining: Math.max(0, Math.floor(rule.limit - used)),
    resetSeconds: Math.max(1, Math.ceil((rule.windowMs - elapsed) / 1000)),
    retryAfterSeconds: allowed ? 0 : waitSeconds(state, nowMs, rule, cost),
  }
}

/**
 * How a hit is applied: `peek` changes nothing and asks whether `cost` more would fit; `hit` adds
 * the cost only if it fits; `force` always adds it (failed logins count even when already over).
 */
export type HitMode = 'peek' | 'hit' | 'force'

export interface RateLimitStore {
  apply(key: string, rule: RateLimitRule, mode: HitMode, cost?: number): Promise<Decision>
}
