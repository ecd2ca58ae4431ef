/**
 * Waiting for a consumer's state to hold (a stream's first keyframe, enough frames measured): the
 * consumer calls `changed()` whenever its state moves, and `until` resolves as soon as the test
 * holds, or when the time is up. No polling, and nothing left behind either way.
 */
export class Condition {
  private readonly waiters = new Set<() => void>()

  /** Waits until `test()` holds or `timeoutMs` passes; returns whether it holds. */
  async until(test: () => boolean, timeoutMs: number): Promise<boolean> {
    if (test()) return true
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      const check = () => {
        if (test()) done()
      }
      const timer = setTimeout(done, Math.max(0, timeoutMs))
      this.waiters.add(check)
    })
    return test()
  }

  /** The state moved: every waiter checks its test again. */
  changed(): void {
    for (const w of [...this.waiters]) w()
  }
}
