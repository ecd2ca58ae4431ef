/**
 * Paces a sending connection's GOP replays. A replay is the whole cached GOP at once: a 10 s GOP
 * at 4 Mbit/s is 5 MB, and sent in one burst it overflows the receiver's UDP buffer (Linux's
 * default is 208 KB) or a router's queue; the receiver loses the keyframe or what depends on it,
 * and waits for the camera's next keyframe (or asks for a replay that is lost the same way).
 *
 * Replay packets go out at most `bytesPerWindow` per `windowMs` (the first of a window always
 * goes, however large), in the order they were given, across every track of the connection (a
 * grid's tiles replay one after another, as they started). A track's live packets are not
 * budgeted: they go out at once, unless that track still has replay packets queued, in which case
 * they queue behind them (a decoder must get them in order) and leave with them.
 */
export interface PacerClock {
  now: () => number
  /** Runs `fn` in `ms`; returns a cancel function. */
  schedule: (fn: () => void, ms: number) => () => void
}

export const realClock: PacerClock = {
  now: () => performance.now(),
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, ms)
    timer.unref()
    return () => clearTimeout(timer)
  },
}

interface Entry<K> {
  key: K
  bytes: number
  budgeted: boolean
  write: () => void
}

export class ReplayPacer<K> {
  private queue: Entry<K>[] = []
  private readonly queuedByKey = new Map<K, number>()
  private windowAt = Number.NEGATIVE_INFINITY
  private windowBytes = 0
  private cancel: (() => void) | undefined
  private closed = false

  constructor(
    private readonly bytesPerWindow: number,
    private readonly windowMs: number,
    private readonly clock: PacerClock = realClock,
  ) {}

  /** A packet of a GOP replay for track `key`: budgeted, in order. */
  replay(key: K, bytes: number, write: () => void): void {
    this.enqueue({ key, bytes, budgeted: true, write })
  }

  /** A live packet for track `key`: now, unless the track's replay is still going out. */
  live(key: K, bytes: number, write: () => void): void {
    if (this.closed) return
    if (!this.queuedByKey.has(key)) {
      write()
      return
    }
    this.enqueue({ key, bytes, budgeted: false, write })
  }

  /** Whether track `key` still has packets waiting (its replay is going out). */
  hasQueued(key: K): boolean {
    return this.queuedByKey.has(key)
  }

  /** Forgets what track `key` has queued (it stopped). */
  drop(key: K): void {
    if (!this.queuedByKey.delete(key)) return
    this.queue = this.queue.filter((e) => e.key !== key)
  }

  /** Bytes waiting to go out. */
  get queuedBytes(): number {
    return this.queue.reduce((n, e) => n + e.bytes, 0)
  }

  close(): void {
    this.closed = true
    this.cancel?.()
    this.cancel = undefined
    this.queue = []
    this.queuedByKey.clear()
  }

  private enqueue(entry: Entry<K>): void {
    if (this.closed) return
    this.queue.push(entry)
    this.queuedByKey.set(entry.key, (this.queuedByKey.get(entry.key) ?? 0) + 1)
    if (!this.cancel) this.drain()
  }

  private drain(): void {
    this.cancel = undefined
    const now = this.clock.now()
    if (now - this.windowAt >= this.windowMs) {
      this.windowAt = now
      this.windowBytes = 0
    }
    while (this.queue.length > 0) {
      const head = this.queue[0] as Entry<K>
      if (head.budgeted && this.windowBytes > 0 && this.windowBytes + head.bytes > this.bytesPerWindow) {
        this.cancel = this.clock.schedule(() => this.drain(), this.windowAt + this.windowMs - now)
        return
      }
      this.queue.shift()
      const left = (this.queuedByKey.get(head.key) ?? 1) - 1
      if (left === 0) this.queuedByKey.delete(head.key)
      else this.queuedByKey.set(head.key, left)
      if (head.budgeted) this.windowBytes += head.bytes
      head.write()
    }
  }
}
