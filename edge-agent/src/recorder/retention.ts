import { rmSync, statfsSync } from 'node:fs'
import type { Logger } from 'pino'
import type { RecordingIndex, SegmentRow } from './recording-index.ts'

/**
 * Retention: per camera by age, and for the whole disk by a quota and a free-space floor, always
 * oldest first. Evidence-locked ranges and open segments are never deleted. Run before every new
 * segment and periodically, so the disk never fills and recording never stops for lack of space.
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
  options: { cameraId?: string; endedBeforeMs?: number },
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
    for (const s of oldestFirst(index, { cameraId, endedBeforeMs: now - days * 86_400_000 }))
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
  return deleted
}
