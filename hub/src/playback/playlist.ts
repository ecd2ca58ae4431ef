/**
 * The HLS media playlist (RFC 8216, version 7: fMP4 with EXT-X-MAP) of a recorded range. Pure:
 * the segments, their addresses and the mode come in, the text goes out.
 *
 * - Every segment carries EXT-X-PROGRAM-DATE-TIME (its wall-clock start), so a player maps media
 *   time to wall-clock time on each segment, across gaps.
 * - EXT-X-DISCONTINUITY where the recording has a gap (or overlaps itself) by more than
 *   `gapToleranceMs`, and where the init section changes (another codec, size or track layout),
 *   which also brings a new EXT-X-MAP. Between two segments without one the media timestamps run
 *   on (the agent moves each file's decode times onto the wall clock).
 * - VOD (with EXT-X-ENDLIST) for a range that has ended; EVENT without it for one that reaches
 *   into the future, which a player reloads to find the segments recorded since.
 */
export interface PlaylistSegment {
  /** Address of the media segment (relative to the playlist, token included). */
  uri: string
  /** Key of its init section; a change means a new EXT-X-MAP and a discontinuity. */
  initKey: string
  /** Address of that init section. */
  initUri: string
  /** Wall-clock start and duration, milliseconds. */
  startMs: number
  durationMs: number
}

export interface PlaylistOptions {
  /** VOD with ENDLIST, or EVENT (still growing) without. */
  type: 'VOD' | 'EVENT'
  /** A gap (or overlap) between segments beyond this is a discontinuity. Default 250 ms. */
  gapToleranceMs?: number
  /** Whether every segment starts with a keyframe (the recorder guarantees it). Default true. */
  independentSegments?: boolean
}

export const DEFAULT_GAP_TOLERANCE_MS = 250

/** Characters a URI in a quoted attribute or on its own line must not contain. */
const UNSAFE_URI = /["\r\n\s]/

export function buildPlaylist(segments: readonly PlaylistSegment[], options: PlaylistOptions): string {
  const tolerance = options.gapToleranceMs ?? DEFAULT_GAP_TOLERANCE_MS
  const maxSeconds = segments.reduce((m, s) => Math.max(m, s.durationMs / 1000), 0)
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${Math.max(1, Math.ceil(maxSeconds))}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    `#EXT-X-PLAYLIST-TYPE:${options.type}`,
  ]
  if (options.independentSegments ?? true) lines.push('#EXT-X-INDEPENDENT-SEGMENTS')
  let prev: PlaylistSegment | undefined
  for (const s of segments) {
    if (UNSAFE_URI.test(s.uri) || UNSAFE_URI.test(s.initUri)) throw new TypeError('unsafe segment URI')
    if (!(s.durationMs > 0) || !Number.isFinite(s.startMs))
      throw new RangeError('a segment needs a time and a duration')
    const newInit = !prev || prev.initKey !== s.initKey
    if (prev) {
      const gap = s.startMs - (prev.startMs + prev.durationMs)
      if (newInit || Math.abs(gap) > tolerance) lines.push('#EXT-X-DISCONTINUITY')
    }
    if (newInit) lines.push(`#EXT-X-MAP:URI="${s.initUri}"`)
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.startMs).toISOString()}`)
    lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`)
    lines.push(s.uri)
    prev = s
  }
  if (options.type === 'VOD') lines.push('#EXT-X-ENDLIST')
  return `${lines.join('\n')}\n`
}
