import type { Redis } from 'ioredis'
import {
  decide,
  type HitMode,
  type RateLimitRule,
  type RateLimitStore,
  windowStart,
} from './sliding-window.ts'

/**
 * The sliding-window counter in Redis, read and updated in one Lua script so concurrent hub
 * instances never lose or double-count a hit. Keys: `<prefix>rl:<rule>:<key>:<window start>`, expiring
 * after two windows.
 */
const SCRIPT = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local mode = ARGV[5]
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local fits = previous * (window - elapsed) / window + current + cost <= limit
if mode == 'force' or (mode == 'hit' and fits) then
  current = redis.call('INCRBY', KEYS[1], cost)
  redis.call('PEXPIRE', KEYS[1], window * 2)
end
return { fits and 1 or 0, current, previous }
`

type WithLimiter = Redis & {
  vmsSlidingWindow(k1: string, k2: string, ...args: (string | number)[]): Promise<[number, number, number]>
}

export class RedisRateLimitStore implements RateLimitStore {
  private readonly redis: WithLimiter

  constructor(
    redis: Redis,
    private readonly prefix = 'vms:',
    private readonly now: () => number = Date.now,
  ) {
    if (!('vmsSlidingWindow' in redis))
      redis.defineCommand('vmsSlidingWindow', { numberOfKeys: 2, lua: SCRIPT })
    this.redis = redis as WithLimiter
  }

  async apply(key: string, rule: RateLimitRule, mode: HitMode, cost = 1) {
    const now = this.now()
    const start = windowStart(now, rule.windowMs)
    const base = `${this.prefix}rl:${rule.name}:${key}`
    const [fits, current, previous] = await this.redis.vmsSlidingWindow(
      `${base}:${start}`,
      `${base}:${start - rule.windowMs}`,
      rule.limit,
      rule.windowMs,
      now - start,
      cost,
      mode,
    )
    return decide(
      { current: Number(current), previous: Number(previous) },
      now,
      rule,
      mode === 'force' || fits === 1,
      cost,
    )
  }
}
