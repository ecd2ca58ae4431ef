import type { Logger } from 'pino'
import type { MemoryRateLimitStore } from './memory-store.ts'
import type { HitMode, RateLimitRule, RateLimitStore } from './sliding-window.ts'

export interface FallbackMetrics {
  degraded(on: boolean): void
  fallback(): void
}

/**
 * Redis first; when Redis fails, this instance's memory. Limits never open wide and a request never
 * fails because Redis did: during an outage each instance enforces the limits on its own, a metric
 * and a warning say so, and the first successful Redis call switches back.
 */
export class ResilientRateLimitStore implements RateLimitStore {
  private degraded = false

  constructor(
    private readonly primary: RateLimitStore,
    private readonly fallback: MemoryRateLimitStore,
    private readonly logger: Logger,
    private readonly metrics: FallbackMetrics,
  ) {}

  get isDegraded(): boolean {
    return this.degraded
  }

  async apply(key: string, rule: RateLimitRule, mode: HitMode, cost?: number) {
    try {
      const decision = await this.primary.apply(key, rule, mode, cost)
      if (this.degraded) {
        this.degraded = false
        this.metrics.degraded(false)
        this.logger.info('rate limiting is back on Redis')
      }
      return decision
    } catch (err) {
      if (!this.degraded) {
        this.degraded = true
        this.metrics.degraded(true)
        this.logger.warn({ err }, 'Redis is unreachable: rate limits fall back to this instance’s memory')
      }
      this.metrics.fallback()
      return this.fallback.apply(key, rule, mode, cost)
    }
  }
}
