/**
 * Just enough ISO BMFF (fragmented MP4) for HLS playback of recorded segments: the agent cuts a
 * recording file into its init section (`ftyp` + `moov`) and media segments (`moof` + `mdat`
 * fragments), moves the media's decode times onto the wall clock, and the hub checks that what
 * it received has that shape. Pure functions of bytes, total on hostile input: malformed input
 * throws `Fmp4Error`, never anything else, and nothing reads outside the buffer.
 */
export class Fmp4Error extends Error {
  override name = 'Fmp4Error'
}

export interface Box {
  type: string
  /** Offset of the box's first byte (its size field). */
  start: number
  /** The whole box, header included. */
  size: number
  /** Header length: 8, or 16 with a 64-bit size. */
  header: number
}

/** Boxes that hold only other boxes (the ones this module walks into). */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'mvex', 'moof', 'traf', 'edts', 'dinf'])
/** Most boxes one level may hold: a bound on work for hostile input. */
const MAX_BOXES = 100_000

const view = (buf: Uint8Array) => new DataView(buf.buffer, buf.byteOffset, buf.byteLength)

function fourcc(buf: Uint8Array, at: number): string {
  let s = ''
  for (let i = 0; i < 4; i++) {
    const c = buf[at + i] as number
    // Box types are printable ASCII (and © in some legacy metadata).
    if ((c < 0x20 || c > 0x7e) && c !== 0xa9) throw new Fmp4Error(`unreadable box type at ${at}`)
    s += String.fromCharCode(c)
  }
  return s
}

/** The box starting at `offset`, which must end by `end`. */
export function boxAt(buf: Uint8Array, offset: number, end = buf.length): Box {
  if (end - offset < 8) throw new Fmp4Error(`truncated box header at ${offset}`)
  const dv = view(buf)
  let size = dv.getUint32(offset)
  const type = fourcc(buf, offset + 4)
  let header = 8
  if (size === 1) {
    if (end - offset < 16) throw new Fmp4Error(`truncated box header at ${offset}`)
    const big = dv.getBigUint64(offset + 8)
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Fmp4Error(`box too large at ${offset}`)
    size = Number(big)
    header = 16
  } else if (size === 0) {
    size = end - offset
  }
  if (size < header) throw new Fmp4Error(`box ${type} at ${offset} is smaller than its header`)
  if (offset + size > end) throw new Fmp4Error(`box ${type} at ${offset} runs past its container`)
  return { type, start: offset, size, header }
}

/** The boxes that exactly tile [start, end); throws if they do not. */
export function boxes(buf: Uint8Array, start = 0, end = buf.length): Box[] {
  const out: Box[] = []
  let at = start
  while (at < end) {
    if (out.length >= MAX_BOXES) throw new Fmp4Error('too many boxes')
    const b = boxAt(buf, at, end)
    out.push(b)
    at += b.size
  }
  return out
}

function children(buf: Uint8Array, box: Box): Box[] {
  if (!CONTAINERS.has(box.type)) throw new Fmp4Error(`${box.type} is not a container`)
  return boxes(buf, box.start + box.header, box.start + box.size)
}

function child(buf: Uint8Array, box: Box, type: string): Box | undefined {
  return children(buf, box).find((b) => b.type === type)
}

/** A full box's version byte, checking the box holds at least `need` bytes after its header. */
function fullBox(buf: Uint8Array, box: Box, need: number): { version: number; body: number } {
  const body = box.start + box.header
  if (box.size - box.header < need) throw new Fmp4Error(`${box.type} at ${box.start} is too short`)
  return { version: buf[body] as number, body }
}

/** The top-level types, for shape checks. */
export const topLevelTypes = (buf: Uint8Array) => boxes(buf).map((b) => b.type)

export interface InitInfo {
  /** Timescale of each track, by track id. */
  timescales: Map<number, number>
}

/** Reads an init section (`ftyp` then `moov`, nothing else): its tracks' ids and timescales. */
export function parseInit(buf: Uint8Array): InitInfo {
  const top = boxes(buf)
  if (top.length !== 2 || top[0]?.type !== 'ftyp' || top[1]?.type !== 'moov')
    throw new Fmp4Error(`an init section is ftyp + moov, not ${top.map((b) => b.type).join(' + ')}`)
  const dv = view(buf)
  const timescales = new Map<number, number>()
  for (const trak of children(buf, top[1]).filter((b) => b.type === 'trak')) {
    const tkhd = child(buf, trak, 'tkhd')
    const mdia = child(buf, trak, 'mdia')
    const mdhd = mdia && child(buf, mdia, 'mdhd')
    if (!tkhd || !mdhd) throw new Fmp4Error('a track without tkhd or mdhd')
    const t = fullBox(buf, tkhd, 24)
    const trackId = dv.getUint32(t.body + (t.version === 1 ? 20 : 12))
    const m = fullBox(buf, mdhd, 24)
    const timescale = dv.getUint32(m.body + (m.version === 1 ? 20 : 12))
    if (trackId === 0 || timescale === 0) throw new Fmp4Error('a track with id or timescale 0')
    timescales.set(trackId, timescale)
  }
  if (timescales.size === 0) throw new Fmp4Error('an init section without tracks')
  return { timescales }
}

/**
 * A copy of an init section with the creation and modification times of `mvhd`, `tkhd` and
 * `mdhd` zeroed: every recording file writes its own, and without them two files of the same
 * camera and format have the same init section byte for byte (so one serves both).
 */
export function normalizeInit(buf: Uint8Array): Uint8Array {
  parseInit(buf)
  const out = new Uint8Array(buf)
  const moov = boxes(out)[1] as Box
  const zeroTimes = (box: Box) => {
    const f = fullBox(out, box, 20)
    out.fill(0, f.body + 4, f.body + 4 + (f.version === 1 ? 16 : 8))
  }
  const mvhd = child(out, moov, 'mvhd')
  if (mvhd) zeroTimes(mvhd)
  for (const trak of children(out, moov).filter((b) => b.type === 'trak')) {
    const tkhd = child(out, trak, 'tkhd')
    if (tkhd) zeroTimes(tkhd)
    const mdia = child(out, trak, 'mdia')
    const mdhd = mdia && child(out, mdia, 'mdhd')
    if (mdhd) zeroTimes(mdhd)
  }
  return out
}

/**
 * Checks that `buf` is media segment data: one or more `moof` + `mdat` fragments and nothing else.
 * Returns the number of fragments.
 */
export function checkMediaSegment(buf: Uint8Array): number {
  const top = boxes(buf)
  if (top.length === 0 || top.length % 2 !== 0) throw new Fmp4Error('a media segment is moof + mdat pairs')
  for (let i = 0; i < top.length; i += 2)
    if (top[i]?.type !== 'moof' || top[i + 1]?.type !== 'mdat')
      throw new Fmp4Error(`a media segment is moof + mdat pairs, found ${top[i]?.type} + ${top[i + 1]?.type}`)
  return top.length / 2
}

/**
 * Adds `offsets` (in each track's timescale, by track id) to the decode time (`tfdt`) of every
 * fragment, in place. Sizes and data offsets do not change. A track with no offset is left as
 * it is; a version-0 `tfdt` that would overflow 32 bits throws.
 */
export function shiftDecodeTimes(buf: Uint8Array, offsets: Map<number, bigint>): void {
  const dv = view(buf)
  for (const moof of boxes(buf).filter((b) => b.type === 'moof')) {
    for (const traf of children(buf, moof).filter((b) => b.type === 'traf')) {
      const tfhd = child(buf, traf, 'tfhd')
      const tfdt = child(buf, traf, 'tfdt')
      if (!tfhd) throw new Fmp4Error('a traf without tfhd')
      const trackId = dv.getUint32(fullBox(buf, tfhd, 8).body + 4)
      const offset = offsets.get(trackId)
      if (offset === undefined || offset === 0n) continue
      if (!tfdt) throw new Fmp4Error(`track ${trackId} has a fragment without tfdt`)
      const f = fullBox(buf, tfdt, 8)
      if (f.version === 1) {
        if (tfdt.size - tfdt.header < 12) throw new Fmp4Error('tfdt is too short')
        const next = dv.getBigUint64(f.body + 4) + offset
        if (next < 0n || next > 0xffffffffffffffffn) throw new Fmp4Error('decode time out of range')
        dv.setBigUint64(f.body + 4, next)
      } else {
        const next = BigInt(dv.getUint32(f.body + 4)) + offset
        if (next < 0n || next > 0xffffffffn) throw new Fmp4Error('decode time does not fit a version-0 tfdt')
        dv.setUint32(f.body + 4, Number(next))
      }
    }
  }
}

/** The decode time (`tfdt`) of each track's first fragment, by track id. */
export function firstDecodeTimes(buf: Uint8Array): Map<number, bigint> {
  const dv = view(buf)
  const out = new Map<number, bigint>()
  for (const moof of boxes(buf).filter((b) => b.type === 'moof'))
    for (const traf of children(buf, moof).filter((b) => b.type === 'traf')) {
      const tfhd = child(buf, traf, 'tfhd')
      const tfdt = child(buf, traf, 'tfdt')
      if (!tfhd || !tfdt) continue
      const trackId = dv.getUint32(fullBox(buf, tfhd, 8).body + 4)
      if (out.has(trackId)) continue
      const f = fullBox(buf, tfdt, 8)
      if (f.version === 1) {
        if (tfdt.size - tfdt.header < 12) throw new Fmp4Error('tfdt is too short')
        out.set(trackId, dv.getBigUint64(f.body + 4))
      } else out.set(trackId, BigInt(dv.getUint32(f.body + 4)))
    }
  return out
}

/**
 * Checks the top-level boxes of a stream as it arrives, without holding it: each box's type
 * must be allowed, and the boxes must tile the stream exactly (`finish()`). For uploads that
 * are too large to buffer whole before they are judged.
 */
export class BoxStreamChecker {
  private header = new Uint8Array(16)
  private headerLength = 0
  /** Bytes of the current box still to come (after its header). */
  private remaining = 0
  readonly types: string[] = []

  constructor(
    private readonly allowed: ReadonlySet<string>,
    private readonly maxBoxes = MAX_BOXES,
  ) {}

  push(chunk: Uint8Array): void {
    let at = 0
    while (at < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - at)
        this.remaining -= n
        at += n
        continue
      }
      const need = this.headerLength >= 8 && view(this.header).getUint32(0) === 1 ? 16 : 8
      const n = Math.min(need - this.headerLength, chunk.length - at)
      this.header.set(chunk.subarray(at, at + n), this.headerLength)
      this.headerLength += n
      at += n
      if (this.headerLength < 8) continue
      const size32 = view(this.header).getUint32(0)
      if (size32 === 1 && this.headerLength < 16) continue
      if (size32 === 0) throw new Fmp4Error('a box of unknown size')
      const box = boxAt(this.header, 0, Number.MAX_SAFE_INTEGER)
      if (!this.allowed.has(box.type)) throw new Fmp4Error(`unexpected box ${box.type}`)
      if (this.types.length >= this.maxBoxes) throw new Fmp4Error('too many boxes')
      this.types.push(box.type)
      this.remaining = box.size - box.header
      this.headerLength = 0
    }
  }

  /** The types seen, once the stream ended on a box boundary. */
  finish(): string[] {
    if (this.remaining > 0 || this.headerLength > 0) throw new Fmp4Error('the stream ends inside a box')
    return this.types
  }
}
