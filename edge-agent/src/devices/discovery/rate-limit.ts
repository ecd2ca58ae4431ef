/**
 * A pacer for probes: at most `perSecond` starts per second, with a small burst. Discovery talks to
 * networks we do not own the rest of (shop Wi-Fi, tills, printers); a steady trickle keeps it far
 * below anything that would fill a switch's queues or look like an attack to an IDS.
 */
export class RateLimiter {
  private next = 0
  private readonly interval: number

  constructor(
    perSecond: number,
    private readonly burst = 10,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0)) throw new RangeError('perSecond must be positive')
    this.interval = 1000 / perSecond
  }

  /** Resolves when the next start is allowed, or false at once when that would be after `deadline`. */
  async take(deadline = Number.POSITIVE_INFINITY, signal?: AbortSignal): Promise<boolean> {
    const now = this.now()
    // The schedule may lag behind by at most `burst` intervals: that is the burst allowance.
    const slot = Math.max(this.next, now - this.interval * (this.burst - 1))
    // The start happens at `slot` or now, whichever is later (the burst allowance puts slots in the past).
    if (Math.max(slot, now) > deadline || signal?.aborted) return false
    this.next = slot + this.interval
    const wait = slot - now
    if (wait > 1) await sleep(wait, signal)
    return !signal?.aborted
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
