import { rmSync, statfsSync } from 'node:fs'
import type { Logger } from 'pino'
import type { RecordingIndex, SegmentRow } from './recording-index.ts'

/**
 * Retention: per camera by age, and for the whole disk by a quota and a free-space floor, always
 * oldest first. Evidence-locked ranges (until their `until`, by the agent's clock) and open
 * segments are never deleted, whatever the quota or the floor. Run before every new segment and
 * periodically, so the disk never fills and recording never stops for lack of space.
 *
 * No time from a camera decides: age is the agent's clock when it wrote the segment
 * (`recorded_ms`), and "oldest" is the order the agent recorded segments in. A camera whose clock
 * said 2006 once had every segment deleted as "older than 30 days"; one dated in the future would
 * never have aged out and been taken last by the quota. Afterwards gaps before the oldest segment
 * kept are pruned and the index's WAL is emptied.
 */
export interface RetentionPolicy {
  /** Days to keep per camera (absent: keep until quota or floor). */
  retentionDays: Map<string, number>
  quotaBytes?: number
  minFreeBytes?: number
  dir: string
}

export function freeBytes(dir: string): number {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

/** Closed segments oldest first, read a page at a time. */
function* oldestFirst(
  index: RecordingIndex,
  options: { cameraId?: string; recordedBeforeMs?: number },
): Generator<SegmentRow> {
  let after: SegmentRow | undefined
  for (;;) {
    const page = index.closedPage({ ...options, ...(after ? { after } : {}) })
    yield* page
    after = page.at(-1)
    if (!after) return
  }
}

/** An error that means another process has the file open (Windows sharing rules), not a failure. */
export function isHeldOpen(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return code === 'EBUSY' || code === 'EPERM' || code === 'EACCES'
}

export function enforceRetention(
  index: RecordingIndex,
  policy: RetentionPolicy,
  logger: Logger,
  now = Date.now(),
  free: (dir: string) => number = freeBytes,
  removeFile: (path: string) => void = (path) => rmSync(path, { force: true }),
): SegmentRow[] {
  const deleted: SegmentRow[] = []
  // A lock past its `until` (by the agent's clock) protects nothing any more: it leaves the index.
  index.dropExpiredLocks(now)
  const remove = (s: SegmentRow, why: string): boolean => {
    try {
      removeFile(s.path)
    } catch (err) {
      // Windows refuses to delete a file another process opened without FILE_SHARE_DELETE (an
      // antivirus scan, a backup tool, someone's player): the segment and its index row stay, and
      // the next pass tries again. Anything else (a broken disk) is not retention's to hide.
      if (!isHeldOpen(err)) throw err
      logger.warn(
        { camera: s.camera_id, segment: s.path, why, code: (err as { code?: string }).code },
        'retention could not remove a segment held open; retried next time',
      )
      return false
    }
    index.deleteSegment(s.id)
    deleted.push(s)
    logger.info({ camera: s.camera_id, segment: s.path, why }, 'retention removed a segment')
    return true
  }
  for (const [cameraId, days] of policy.retentionDays) {
    for (const s of oldestFirst(index, { cameraId, recordedBeforeMs: now - days * 86_400_000 }))
      if (!index.isLocked(s, now)) remove(s, `older than ${days} days`)
  }
  if (policy.quotaBytes !== undefined) {
    let total = index.totalBytes()
    if (total > policy.quotaBytes) {
      for (const s of oldestFirst(index, {})) {
        if (total <= policy.quotaBytes) break
        if (index.isLocked(s, now)) continue
        if (remove(s, 'over the disk quota')) total -= s.bytes
      }
    }
  }
  if (policy.minFreeBytes !== undefined && free(policy.dir) < policy.minFreeBytes) {
    for (const s of oldestFirst(index, {})) {
      if (free(policy.dir) >= policy.minFreeBytes) break
      if (index.isLocked(s, now)) continue
      remove(s, 'below the free-space floor')
    }
  }
  if (deleted.length > 0) {
    index.pruneGaps()
    // A disk that needed room keeps no WAL either (between deletions it stays under its limit).
    // Best effort: a checkpoint needs room in the database file, and retention must not fail on it.
    try {
      index.checkpoint()
    } catch (err) {
      logger.warn({ err }, 'could not checkpoint the recording index; retried after the next deletion')
    }
  }
  return deleted
}
