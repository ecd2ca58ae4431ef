/**
 * Playback is audited once per viewing session, not per playlist reload or segment: a user
 * asking again for a range of a camera that overlaps one audited for them within the window
 * (the player reloading, re-fetching after its segment token expired, scrubbing nearby) is the
 * same session and is not audited again; each such request keeps the session alive for another
 * window. A range that overlaps nothing audited recently (another part of the day) is a new
 * session. In memory, per hub, bounded: with several hubs a session may be audited once on each.
 */
interface Viewed {
  fromMs: number
  toMs: number
  lastMs: number
}

export class SessionAudit {
  private readonly sessions = new Map<string, Viewed[]>()
  private readonly now: () => number

  constructor(
    private readonly options: {
      windowMs: number
      /** Users × cameras remembered (oldest forgotten first). */
      maxKeys?: number
      /** Ranges remembered per user and camera. */
      maxRanges?: number
      now?: () => number
    },
  ) {
    this.now = options.now ?? Date.now
  }

  /** Whether this request starts a session (audit it); remembers it either way. */
  begin(userId: string, cameraId: string, fromMs: number, toMs: number): boolean {
    const now = this.now()
    const key = `${userId}:${cameraId}`
    const live = (this.sessions.get(key) ?? []).filter((v) => now - v.lastMs < this.options.windowMs)
    this.sessions.delete(key)
    const same = live.find((v) => v.fromMs < toMs && fromMs < v.toMs)
    if (same) same.lastMs = now
    else live.push({ fromMs, toMs, lastMs: now })
    this.sessions.set(key, live.slice(-(this.options.maxRanges ?? 32)))
    const maxKeys = this.options.maxKeys ?? 10_000
    for (const k of this.sessions.keys()) {
      if (this.sessions.size <= maxKeys) break
      this.sessions.delete(k)
    }
    return same === undefined
  }
}
