import { rmSync, statfsSync } from 'node:fs'
import type { Logger } from 'pino'
import type { RecordingIndex, SegmentRow } from './recording-index.ts'

/**
 * Retention: per camera by age, and for the whole disk by a quota and a free-space floor, always
 * oldest first. Evidence-locked ranges and open segments are never deleted. Run before every new
 * segment and periodically, so the disk never fills and recording never stops for lack of space.
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

export function enforceRetention(
  index: RecordingIndex,
  policy: RetentionPolicy,
  logger: Logger,
  now = Date.now(),
  free: (dir: string) => number = freeBytes,
): SegmentRow[] {
  const deleted: SegmentRow[] = []
  const remove = (s: SegmentRow, why: string) => {
    rmSync(s.path, { force: true })
    index.deleteSegment(s.id)
    deleted.push(s)
    logger.info({ camera: s.camera_id, segment: s.path, why }, 'retention removed a segment')
  }
  for (const [cameraId, days] of policy.retentionDays) {
    for (const s of oldestFirst(index, { cameraId, recordedBeforeMs: now - days * 86_400_000 }))
      if (!index.isLocked(s)) remove(s, `older than ${days} days`)
  }
  if (policy.quotaBytes !== undefined) {
    let total = index.totalBytes()
    if (total > policy.quotaBytes) {
      for (const s of oldestFirst(index, {})) {
        if (total <= policy.quotaBytes) break
        if (index.isLocked(s)) continue
        remove(s, 'over the disk quota')
        total -= s.bytes
      }
    }
  }
  if (policy.minFreeBytes !== undefined && free(policy.dir) < policy.minFreeBytes) {
    for (const s of oldestFirst(index, {})) {
      if (free(policy.dir) >= policy.minFreeBytes) break
      if (index.isLocked(s)) continue
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
