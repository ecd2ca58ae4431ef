import { createHash } from 'node:crypto'
import { mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'

/**
 * The hub's disk cache of playback segments (init sections and media segments fetched from
 * agents), so that several viewers of the same hour cost the site's uplink one upload:
 *
 * - bounded by bytes, least recently used evicted first;
 * - single flight: concurrent requests for a segment that is not cached share one load;
 * - what a reader opened stays readable after eviction (it holds the descriptor; the file is
 *   only unlinked);
 * - a segment larger than the whole cache is served to those who asked and not kept.
 *
 * The index is in memory: the directory is emptied at start (segments are cheap to fetch again,
 * and a cache that survives restarts would have to be reconciled with what agents still hold).
 */
export interface CacheEntry {
  file: string
  bytes: number
}

export interface OpenedSegment {
  /** An open descriptor (the caller streams and closes it). */
  fd: number
  bytes: number
  /** hit: from the cache; miss: this call loaded it; shared: waited for another call's load. */
  source: 'hit' | 'miss' | 'shared'
}

export class SegmentCache {
  private readonly entries = new Map<string, CacheEntry>()
  private readonly loading = new Map<string, Promise<CacheEntry>>()
  private total = 0
  /** Where loads write their files before the cache adopts them (same file system: a rename). */
  readonly incomingDir: string

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    rmSync(dir, { recursive: true, force: true })
    this.incomingDir = path.join(dir, 'incoming')
    mkdirSync(this.incomingDir, { recursive: true, mode: 0o700 })
  }

  get bytes(): number {
    return this.total
  }

  get size(): number {
    return this.entries.size
  }

  has(key: string): boolean {
    return this.entries.has(key)
  }

  /**
   * Opens the segment `key`: from the cache, or from the file `load` produces (in `incomingDir`),
   * which the cache then adopts. Concurrent calls for one key share one `load`; if it fails, they
   * all fail with its error and the next call tries again.
   */
  async open(key: string, load: () => Promise<string>): Promise<OpenedSegment> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const hit = this.entries.get(key)
      if (hit) {
        const fd = tryOpen(hit.file)
        if (fd !== undefined) {
          // Most recently used: to the end of the map's order.
          this.entries.delete(key)
          this.entries.set(key, hit)
          return { fd, bytes: hit.bytes, source: 'hit' }
        }
        this.forget(key)
      }
      let pending = this.loading.get(key)
      const shared = pending !== undefined
      if (!pending) {
        pending = this.fill(key, load)
        this.loading.set(key, pending)
        const done = pending
        void done.then(
          () => this.loading.get(key) === done && this.loading.delete(key),
          () => this.loading.get(key) === done && this.loading.delete(key),
        )
      }
      const entry = await pending
      // Opened in the same turn the load finished in, before anything can evict it; a file too
      // large to keep is removed on the next turn of the event loop, after every waiter opened it.
      const fd = tryOpen(entry.file)
      if (fd !== undefined) return { fd, bytes: entry.bytes, source: shared ? 'shared' : 'miss' }
    }
    throw new Error('the cached segment vanished while it was being opened')
  }

  private async fill(key: string, load: () => Promise<string>): Promise<CacheEntry> {
    const incoming = await load()
    const file = path.join(this.dir, `${createHash('sha256').update(key).digest('hex')}.seg`)
    let bytes: number
    try {
      bytes = statSync(incoming).size
      renameSync(incoming, file)
    } catch (err) {
      rmSync(incoming, { force: true })
      throw err
    }
    const entry = { file, bytes }
    if (bytes > this.maxBytes) {
      setImmediate(() => rmSync(file, { force: true }))
      return entry
    }
    this.forget(key)
    this.entries.set(key, entry)
    this.total += bytes
    // Least recently used first (the map keeps use order), never the one just added.
    for (const k of [...this.entries.keys()]) {
      if (this.total <= this.maxBytes) break
      if (k !== key) this.forget(k)
    }
    return entry
  }

  private forget(key: string): void {
    const e = this.entries.get(key)
    if (!e) return
    this.entries.delete(key)
    this.total -= e.bytes
    rmSync(e.file, { force: true })
  }

  /** Empties the cache (files being read stay readable to their readers). */
  clear(): void {
    for (const key of [...this.entries.keys()]) this.forget(key)
  }
}

function tryOpen(file: string): number | undefined {
  try {
    return openSync(file, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
