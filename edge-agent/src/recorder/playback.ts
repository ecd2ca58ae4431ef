import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import {
  checkMediaSegment,
  Fmp4Error,
  normalizeInit,
  PLAYBACK_PAGE_FILES,
  PLAYBACK_PAGE_PARTS,
  type PlaybackCursor,
  type PlaybackPart,
  parseInit,
  type RecordingSegmentsResult,
  shiftDecodeTimes,
} from '@ts-vms/shared'
import { describeMissing, RangeUnavailableError } from './export.ts'
import type { FragmentRow, RecordingIndex, SegmentRow } from './recording-index.ts'

/**
 * HLS playback from the recording files, without remuxing. A recording file is a fragmented MP4
 * that holds its own init section (`ftyp` + `moov`, written once at its start) followed by
 * `moof` + `mdat` fragments of about a second, each starting on a keyframe, whose byte ends the
 * index records. So:
 *
 * - an **init section** is the file's first bytes up to its first fragment, with the creation
 *   times zeroed (`normalizeInit`): files of one camera in one format then share it byte for
 *   byte, and its key (SHA-256, 128 bits) changes exactly when the format does;
 * - a **media segment** is a run of whole fragments (`groupFragments`: at least `targetMs` long,
 *   the file's last run shorter), cut from the file by byte range. Each file's decode times start
 *   at 0; they are moved onto the wall clock (the file's start) so that consecutive files are one
 *   continuous timeline and the player needs a discontinuity only at a real gap.
 *
 * Only bytes the index vouches for are read (durable fragments), so a file being written serves
 * what is on disk and no half-written fragment.
 */
export class PlaybackUnavailableError extends Error {
  override name = 'PlaybackUnavailableError'
}

/** A media segment: [first fragment, fragment count, start ms, duration ms]. */
export type PartTuple = [number, number, number, number]

/** Largest init section read (two tracks take about a kilobyte). */
const MAX_INIT_BYTES = 1024 * 1024
/**
 * Largest media segment read (it is held in memory to move its decode times and hash it, at most
 * four at once): the hub's default limit. A few seconds of video take a few megabytes.
 */
export const MAX_PART_BYTES = 64 * 1024 * 1024
/** Init sections remembered (key, size, timescales), by file id. */
const INIT_CACHE = 4096

/**
 * Groups a file's fragments into media segments: consecutive fragments until the run reaches
 * `targetMs` (within a millisecond), then the next run; what is left at the end is the last one.
 * Fragments of no duration join the run they are in. Deterministic: the same fragments always
 * give the same segments, so every viewer asks for (and the hub caches) the same ones. Fragments
 * added later to a file being written extend only its last segment.
 */
export function groupFragments(
  fragments: readonly Pick<FragmentRow, 'start_ms' | 'end_ms'>[],
  targetMs: number,
  maxFragments: number,
): PartTuple[] {
  const parts: PartTuple[] = []
  let first = -1
  let start = 0
  let end = 0
  const close = (i: number) => {
    if (first >= 0 && end > start) parts.push([first, i - first, round3(start), round3(end - start)])
    first = -1
  }
  fragments.forEach((f, i) => {
    if (first < 0) {
      first = i
      start = f.start_ms
    }
    end = Math.max(end, f.end_ms)
    if (end - start >= targetMs - 1 || i + 1 - first >= maxFragments) close(i + 1)
  })
  close(fragments.length)
  return parts
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000

interface FileInit {
  key: string
  /** Bytes of the file before its first fragment. */
  end: number
  timescales: Map<number, number>
}

async function openFile(path: string) {
  return open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new PlaybackUnavailableError('the recording file is gone (retention)')
    throw err
  })
}

type Handle = Awaited<ReturnType<typeof openFile>>

async function readAt(handle: Handle, start: number, end: number, path: string): Promise<Buffer> {
  const buf = Buffer.alloc(end - start)
  const { bytesRead } = await handle.read(buf, 0, buf.length, start)
  if (bytesRead !== buf.length) throw new Error(`${path}: shorter than the index says`)
  return buf
}

/** How much of a file is read at once to find its init section (it is usually about 1 KiB). */
const INIT_PROBE_BYTES = 64 * 1024

export class PlaybackSource {
  private readonly inits = new Map<number, FileInit>()

  constructor(
    private readonly index: RecordingIndex,
    private readonly options: { maxPartFragments: number },
  ) {}

  /** The file's init section (ftyp + moov, before its first fragment), normalised, and what describes it. */
  private async readInit(row: SegmentRow): Promise<{ init: FileInit; bytes: Uint8Array }> {
    const handle = await openFile(row.path)
    let raw: Buffer
    try {
      let head = await readAt(handle, 0, Math.min(INIT_PROBE_BYTES, row.bytes), row.path)
      const box = (at: number, type: string) => {
        if (head.length < at + 8 || head.toString('latin1', at + 4, at + 8) !== type) return 0
        const size = head.readUInt32BE(at)
        return size >= 8 ? size : 0
      }
      const ftyp = box(0, 'ftyp')
      const moov = ftyp ? box(ftyp, 'moov') : 0
      const end = ftyp + moov
      if (!ftyp || !moov || end > Math.min(row.bytes, MAX_INIT_BYTES))
        throw new PlaybackUnavailableError('the recording has no readable init section')
      if (end > head.length) head = await readAt(handle, 0, end, row.path)
      raw = head.subarray(0, end)
    } finally {
      await handle.close()
    }
    const bytes = normalizeInit(raw)
    const init: FileInit = {
      key: createHash('sha256').update(bytes).digest('hex').slice(0, 32),
      end: raw.length,
      timescales: parseInit(bytes).timescales,
    }
    this.inits.delete(row.id)
    this.inits.set(row.id, init)
    while (this.inits.size > INIT_CACHE) this.inits.delete(this.inits.keys().next().value as number)
    return { init, bytes }
  }

  private async initOf(row: SegmentRow): Promise<FileInit> {
    return this.inits.get(row.id) ?? (await this.readInit(row)).init
  }

  /**
   * The media segments of a camera's main stream overlapping [fromMs, toMs), a page at a time
   * (files after `after`). Throws RangeUnavailableError when the first page finds nothing.
   */
  async list(
    req: { cameraId: string; fromMs: number; toMs: number; targetMs: number },
    after?: PlaybackCursor,
  ): Promise<RecordingSegmentsResult> {
    const rows = this.index.db
      .prepare(
        `select * from segments
          where camera_id = ? and stream = 'main' and end_ms > ? and start_ms < ? and bytes > 0 and frames > 0
            and (? is null or start_ms > ? or (start_ms = ? and id > ?))
          order by start_ms, id limit ?`,
      )
      .all(
        req.cameraId,
        req.fromMs,
        req.toMs,
        after?.startMs ?? null,
        after?.startMs ?? null,
        after?.startMs ?? null,
        after?.file ?? null,
        PLAYBACK_PAGE_FILES + 1,
      ) as SegmentRow[]
    const files: RecordingSegmentsResult['files'] = []
    let total = 0
    let next: PlaybackCursor | undefined
    /** The last row looked at: where the next page starts when this one ran out of rows. */
    let seen: SegmentRow | undefined
    for (const row of rows) {
      if (files.length >= PLAYBACK_PAGE_FILES) {
        const last = files.at(-1) as RecordingSegmentsResult['files'][number]
        next = { file: last.file, startMs: last.startMs }
        break
      }
      seen = row
      const parts = groupFragments(this.index.fragments(row.id), req.targetMs, this.options.maxPartFragments)
        .filter(([, , start, duration]) => start + duration > req.fromMs && start < req.toMs)
        .slice(0, PLAYBACK_PAGE_PARTS)
      if (parts.length === 0) continue
      if (total + parts.length > PLAYBACK_PAGE_PARTS) {
        const last = files.at(-1)
        if (last) {
          next = { file: last.file, startMs: last.startMs }
          break
        }
      }
      let init: FileInit
      try {
        init = await this.initOf(row)
      } catch (err) {
        // A file without a readable init section cannot be played: leave it out.
        if (err instanceof PlaybackUnavailableError || err instanceof Fmp4Error) continue
        throw err
      }
      files.push({ file: row.id, startMs: row.start_ms, init: init.key, open: row.state === 'open', parts })
      total += parts.length
    }
    // More rows than were read: the next page starts after the last one looked at.
    if (!next && seen && rows.length > PLAYBACK_PAGE_FILES) next = { file: seen.id, startMs: seen.start_ms }
    if (files.length === 0 && !after && !next)
      throw new RangeUnavailableError(describeMissing(this.index, req))
    return { files, ...(next ? { next } : {}) }
  }

  private file(cameraId: string, part: PlaybackPart): SegmentRow {
    const row = this.index.segment(part.file)
    if (!row || row.camera_id !== cameraId || Math.round(row.start_ms) !== part.startMs)
      throw new PlaybackUnavailableError('this recording is not (or no longer) on the agent')
    return row
  }

  /** A file's normalised init section, which must have the key asked for. */
  async initSection(cameraId: string, part: Extract<PlaybackPart, { kind: 'init' }>): Promise<Uint8Array> {
    const { init, bytes } = await this.readInit(this.file(cameraId, part))
    if (init.key !== part.init) throw new PlaybackUnavailableError('this recording has another init section')
    return bytes
  }

  /** A run of a file's fragments, its decode times moved onto the wall clock. */
  async mediaSegment(cameraId: string, part: Extract<PlaybackPart, { kind: 'media' }>): Promise<Uint8Array> {
    const row = this.file(cameraId, part)
    const fragments = this.index.fragments(row.id)
    const last = fragments[part.first + part.count - 1]
    if (!last) throw new PlaybackUnavailableError('the recording does not hold these fragments')
    const init = await this.initOf(row)
    const start = part.first === 0 ? init.end : (fragments[part.first - 1] as FragmentRow).offset_end
    if (last.offset_end - start > MAX_PART_BYTES)
      throw new PlaybackUnavailableError('the segment is too large')
    const handle = await openFile(row.path)
    let bytes: Buffer
    try {
      bytes = await readAt(handle, start, last.offset_end, row.path)
    } finally {
      await handle.close()
    }
    checkMediaSegment(bytes)
    const offsets = new Map<number, bigint>()
    for (const [track, timescale] of init.timescales)
      offsets.set(track, BigInt(Math.round((row.start_ms / 1000) * timescale)))
    shiftDecodeTimes(bytes, offsets)
    return bytes
  }
}
