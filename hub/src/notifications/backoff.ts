/**
 * How long a failed delivery waits before its next attempt: exponential from `baseMs`
 * (base, 2·base, 4·base, …) with "full jitter" over the upper half, so receivers coming back from
 * an outage are not hit by every hub's retries in the same instant. Capped at `maxMs` (1 hour).
 *
 * `attempt` is the number of attempts made so far (1 after the first failure).
 */
export function retryDelayMs(
  attempt: number,
  baseMs: number,
  random: () => number = Math.random,
  maxMs = 3_600_000,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30)
  const ceiling = Math.min(maxMs, baseMs * 2 ** exponent)
  return Math.round(ceiling / 2 + (ceiling / 2) * random())
}
