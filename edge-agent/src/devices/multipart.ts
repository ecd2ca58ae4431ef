/**
 * Incremental parser for the multipart streams cameras push events on (`multipart/x-mixed-replace`
 * from Hikvision `alertStream` and Dahua `eventManager.cgi?action=attach`, `multipart/mixed` from
 * some firmwares). TCP delivers the stream in chunks of any size, so a part may be split anywhere:
 * inside the boundary, inside a header line, inside the body. The parser keeps only the bytes of
 * the part in progress, and both the header block and the body are bounded, so a device that
 * never sends a boundary (or lies in Content-Length) costs at most `maxPartBytes` of memory
 * before it is an error.
 *
 * Tolerated, because devices do it:
 * - the first boundary without the CRLF RFC 2046 puts before it (every device), junk before it;
 * - LF-only line endings;
 * - a Content-Length (the part is delivered as soon as that many bytes arrived, without waiting
 *   for the next boundary: Dahua sends the boundary of part N only when part N+1 happens) or none
 *   (the body runs to the next boundary);
 * - a part with no header block at all (the body right after the boundary line);
 * - bytes between the end of a Content-Length body and the next boundary (Dahua's extra CRLFs).
 */
export const DEFAULT_MAX_PART_BYTES = 1024 * 1024
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024

export class MultipartError extends Error {
  override name = 'MultipartError'
}

export interface MultipartPart {
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>
  body: Buffer
}

export interface MultipartOptions {
  maxPartBytes?: number
  maxHeaderBytes?: number
}

/**
 * The boundary of a multipart Content-Type (`boundary=x` or `boundary="x"`, any case), or
 * undefined when the type is not multipart or names none.
 */
export function boundaryFromContentType(contentType: string | string[] | undefined): string | undefined {
  const ct = Array.isArray(contentType) ? contentType[0] : contentType
  if (!ct || !/^\s*multipart\//i.test(ct)) return undefined
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(ct)
  const b = m?.[1] ?? m?.[2]
  return b && b.length <= 200 ? b : undefined
}

/** A growable byte window: appends are amortised O(1), so feeding one byte at a time stays linear. */
class ByteWindow {
  private data = Buffer.alloc(4096)
  private start = 0
  private end = 0

  get length(): number {
    return this.end - this.start
  }

  view(): Buffer {
    return this.data.subarray(this.start, this.end)
  }

  append(chunk: Buffer): void {
    if (this.end + chunk.length > this.data.length) {
      const needed = this.length + chunk.length
      const next = needed > this.data.length / 2 ? Buffer.alloc(Math.max(needed * 2, 4096)) : this.data
      this.data.copy(next, 0, this.start, this.end)
      this.data = next
      this.end -= this.start
      this.start = 0
    }
    chunk.copy(this.data, this.end)
    this.end += chunk.length
  }

  consume(n: number): void {
    this.start += n
    if (this.start === this.end) this.start = this.end = 0
  }
}

type State = 'preamble' | 'headers' | 'body' | 'done' | 'failed'

const HEADER_LINE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+\s*:/

export class MultipartParser {
  private readonly delimiter: Buffer
  private readonly maxPart: number
  private readonly maxHeader: number
  private readonly buf = new ByteWindow()
  private state: State = 'preamble'
  private headers: Record<string, string> = {}
  private headerBytes = 0
  private firstHeaderLine = true
  private contentLength: number | undefined
  /** Where the next boundary search resumes in a length-less body (no rescanning: linear time). */
  private scanFrom = 0

  constructor(boundary: string, options: MultipartOptions = {}) {
    if (!boundary || boundary.length > 200 || /[\r\n]/.test(boundary))
      throw new MultipartError('a multipart boundary of 1 to 200 characters is needed')
    // Some firmwares announce the boundary with its leading dashes (`boundary=--myboundary`).
    this.delimiter = Buffer.from(boundary.startsWith('--') ? boundary : `--${boundary}`, 'latin1')
    this.maxPart = options.maxPartBytes ?? DEFAULT_MAX_PART_BYTES
    this.maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES
  }

  /** True after the closing `--boundary--`: nothing more is parsed. */
  get finished(): boolean {
    return this.state === 'done'
  }

  /** Feeds a chunk; returns the parts it completed, in order. After an error the parser is dead. */
  push(chunk: Buffer | string): MultipartPart[] {
    if (this.state === 'failed') throw new MultipartError('the multipart parser already failed')
    if (this.state === 'done') return []
    this.buf.append(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk)
    const parts: MultipartPart[] = []
    try {
      while (this.step(parts)) {}
    } catch (err) {
      this.state = 'failed'
      throw err
    }
    return parts
  }

  /**
   * The stream ended. A part in progress is dropped, never delivered truncated: `truncated` says
   * whether there was one (a device that vanished mid-part).
   */
  end(): { truncated: boolean } {
    const truncated =
      (this.state === 'headers' && this.headerBytes + this.buf.length > 0) || this.state === 'body'
    this.state = 'done'
    return { truncated }
  }

  /** One transition; false when more bytes are needed. */
  private step(parts: MultipartPart[]): boolean {
    switch (this.state) {
      case 'preamble':
        return this.findBoundary()
      case 'headers':
        return this.readHeaderLine()
      case 'body':
        return this.readBody(parts)
      default:
        return false
    }
  }

  /** Skips to the next boundary line and past it. */
  private findBoundary(): boolean {
    const view = this.buf.view()
    const at = view.indexOf(this.delimiter)
    if (at === -1) {
      // Keep only what could be the start of a split boundary.
      const keep = this.delimiter.length - 1
      if (view.length > keep) this.buf.consume(view.length - keep)
      return false
    }
    const afterAt = at + this.delimiter.length
    // Need the rest of the boundary line to tell `--b`, `--b--` and `--bX` (not ours) apart.
    const eol = view.indexOf(0x0a, afterAt)
    if (eol === -1) {
      if (view.length - afterAt > this.maxHeader) throw new MultipartError('boundary line too long')
      if (at > 0) this.buf.consume(at)
      return false
    }
    const rest = view.subarray(afterAt, eol).toString('latin1')
    if (rest.startsWith('--')) {
      this.state = 'done'
      this.buf.consume(eol + 1)
      return false
    }
    if (rest.trim() !== '') {
      // `--boundaryX`: a longer token that merely starts like ours; keep looking after it.
      this.buf.consume(afterAt)
      return true
    }
    this.buf.consume(eol + 1)
    this.state = 'headers'
    this.headers = {}
    this.headerBytes = 0
    this.firstHeaderLine = true
    this.contentLength = undefined
    return true
  }

  private readHeaderLine(): boolean {
    const view = this.buf.view()
    const eol = view.indexOf(0x0a)
    if (eol === -1) {
      if (this.headerBytes + view.length > this.maxHeader)
        throw new MultipartError(`multipart header block over ${this.maxHeader} bytes`)
      return false
    }
    const line = view.subarray(0, eol).toString('latin1').replace(/\r$/, '')
    if (this.firstHeaderLine && line !== '' && !HEADER_LINE.test(line)) {
      // No header block: this line is already the body (it stays in the buffer).
      this.startBody()
      return true
    }
    this.firstHeaderLine = false
    this.headerBytes += eol + 1
    if (this.headerBytes > this.maxHeader)
      throw new MultipartError(`multipart header block over ${this.maxHeader} bytes`)
    this.buf.consume(eol + 1)
    if (line === '') {
      this.startBody()
      return true
    }
    const colon = line.indexOf(':')
    if (colon > 0) this.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    return true
  }

  private startBody(): void {
    const cl = this.headers['content-length']
    if (cl !== undefined && /^\d{1,10}$/.test(cl)) {
      this.contentLength = Number(cl)
      if (this.contentLength > this.maxPart)
        throw new MultipartError(`multipart part of ${this.contentLength} bytes, over ${this.maxPart}`)
    }
    this.scanFrom = 0
    this.state = 'body'
  }

  private readBody(parts: MultipartPart[]): boolean {
    const view = this.buf.view()
    if (this.contentLength !== undefined) {
      if (view.length < this.contentLength) return false
      parts.push({ headers: this.headers, body: Buffer.from(view.subarray(0, this.contentLength)) })
      this.buf.consume(this.contentLength)
      this.state = 'preamble'
      return true
    }
    // The boundary starts a line: at the very start of the body (an empty part) or after an LF.
    let end = -1
    let from = this.scanFrom
    while (end === -1) {
      const at = view.indexOf(this.delimiter, from)
      if (at === -1) break
      if (at === 0 || view[at - 1] === 0x0a) end = at
      else from = at + 1
    }
    if (end === -1) {
      if (view.length > this.maxPart + this.delimiter.length + 2)
        throw new MultipartError(`multipart part over ${this.maxPart} bytes without a boundary`)
      this.scanFrom = Math.max(0, view.length - this.delimiter.length)
      return false
    }
    // The line break before the boundary belongs to the boundary (RFC 2046), CRLF or LF.
    let bodyEnd = end
    if (bodyEnd > 0 && view[bodyEnd - 1] === 0x0a) bodyEnd--
    if (bodyEnd > 0 && view[bodyEnd - 1] === 0x0d) bodyEnd--
    if (bodyEnd > this.maxPart) throw new MultipartError(`multipart part over ${this.maxPart} bytes`)
    parts.push({ headers: this.headers, body: Buffer.from(view.subarray(0, bodyEnd)) })
    this.buf.consume(end)
    this.state = 'preamble'
    return true
  }
}
