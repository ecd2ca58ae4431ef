/**
 * Reconnection delays: exponential from `initialMs`, capped at `maxMs`, with full jitter (a random
 * delay between half and all of the step) so many agents do not reconnect in lockstep.
 */
export class Backoff {
  private attempt = 0

  constructor(
    private readonly initialMs = 1000,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt)
    this.attempt++
    return Math.round(step / 2 + (this.random() * step) / 2)
  }

  reset(): void {
    this.attempt = 0
  }

  get attempts(): number {
    return this.attempt
  }
}
