import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, rmSync, statSync } from 'node:fs'
import type { Logger } from 'pino'
import type { RecordingIndex } from './recording-index.ts'

/**
 * After a crash or power cut: every segment still marked open is cut back to its last durable
 * fragment (which the index recorded only after fsync) and closed. A segment with no durable
 * fragment holds no playable media and is removed. Everything earlier is untouched and plays.
 */
export function repairRecordings(
  index: RecordingIndex,
  logger: Logger,
): { repaired: number; removed: number } {
  let repaired = 0
  let removed = 0
  for (const s of index.openSegments()) {
    const fragments = index.fragments(s.id)
    const last = fragments.at(-1)
    if (!last || !existsSync(s.path)) {
      rmSync(s.path, { force: true })
      index.deleteSegment(s.id)
      removed++
      continue
    }
    const size = statSync(s.path).size
    if (size > last.offset_end) {
      const fd = openSync(s.path, 'r+')
      try {
        ftruncateSync(fd, last.offset_end)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
    index.closeSegment(s.id, last.offset_end, last.end_ms)
    repaired++
    logger.warn(
      { segment: s.path, keptBytes: last.offset_end, droppedBytes: Math.max(0, size - last.offset_end) },
      'repaired a segment cut short',
    )
  }
  return { repaired, removed }
}
