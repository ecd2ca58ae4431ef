/**
 * RTSP 1.0 messages (RFC 2326 §6-7) and the TCP stream that carries them mixed with interleaved
 * RTP/RTCP frames (§10.12: `$`, channel, 16-bit length, data).
 *
 * Parsing is forgiving where real cameras are sloppy (bare LF line ends, odd spacing, missing
 * Content-Type, header names in any case) and strict where sloppiness would be dangerous (sizes are
 * bounded; malformed input is an error value, never an exception, never an endless wait).
 */
import { cleanText } from '@ts-vms/shared'

export interface RtspResponse {
  version: string
  status: number
  reason: string
  /** Lower-case names; repeated headers are joined with ", ". */
  headers: Map<string, string>
  body: Buffer
}

export interface InterleavedFrame {
  channel: number
  data: Buffer
}

export const MAX_HEADER_BYTES = 64 * 1024
export const MAX_BODY_BYTES = 1024 * 1024
/** A reason phrase is a few words ("Session Not Found"); it ends up in error messages and events. */
export const MAX_REASON_LENGTH = 200
/** No header a camera sends legitimately comes near this; the value is cut and marked beyond it. */
export const MAX_HEADER_VALUE_LENGTH = 4096

export class RtspParseError extends Error {
  override name = 'RtspParseError'
}

function headerEnd(buf: Buffer, from: number): { end: number; sepLength: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n', from, 'latin1')
  const lf = buf.indexOf('\n\n', from, 'latin1')
  if (crlf === -1 && lf === -1) return undefined
  if (lf !== -1 && (crlf === -1 || lf < crlf)) return { end: lf, sepLength: 2 }
  return { end: crlf, sepLength: 4 }
}

/**
 * Header values from the camera become URLs, session ids and error text: control characters are
 * stripped and the length bounded where they enter (values are plain text, so nothing is lost).
 */
function clean(value: string): string {
  return cleanText(value, { maxLength: MAX_HEADER_VALUE_LENGTH })
}

/**
 * Parses the header block of a response (status line and headers). The reason phrase and header
 * values come out clean (no control characters) and bounded.
 */
export function parseResponseHead(text: string): Omit<RtspResponse, 'body'> {
  const lines = text.split(/\r?\n/)
  const status = /^(RTSP\/\d\.\d)\s+(\d{3})\s*(.*)$/.exec(lines[0]?.trim() ?? '')
  if (!status)
    throw new RtspParseError(`not an RTSP status line: "${cleanText(lines[0] ?? '', { maxLength: 80 })}"`)
  const headers = new Map<string, string>()
  let last: string | undefined
  for (const line of lines.slice(1)) {
    if (line === '') continue
    if (/^[ \t]/.test(line) && last) {
      // An obsolete folded continuation line.
      headers.set(last, clean(`${headers.get(last)} ${line.trim()}`))
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) continue // tolerate junk lines rather than dropping the response
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers.set(name, clean(headers.has(name) ? `${headers.get(name)}, ${value}` : value))
    last = name
  }
  return {
    version: status[1] as string,
    status: Number(status[2]),
    reason: cleanText(status[3] ?? '', { maxLength: MAX_REASON_LENGTH }).trim(),
    headers,
  }
}

export function formatRequest(
  method: string,
  url: string,
  headers: Record<string, string | number>,
  body?: Buffer,
): Buffer {
  let head = `${method} ${url} RTSP/1.0\r\n`
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(String(v)) || /[\r\n:]/.test(k))
      throw new RtspParseError(`header ${k} holds a line break`)
    head += `${k}: ${v}\r\n`
  }
  if (body && body.length > 0) head += `Content-Length: ${body.length}\r\n`
  head += '\r\n'
  return body && body.length > 0
    ? Buffer.concat([Buffer.from(head, 'utf8'), body])
    : Buffer.from(head, 'utf8')
}

export type StreamItem =
  | { kind: 'response'; response: RtspResponse }
  | { kind: 'request'; method: string; url: string; headers: Map<string, string>; body: Buffer }
  | { kind: 'frame'; frame: InterleavedFrame }

/**
 * Splits the bytes of an RTSP-over-TCP connection into responses, requests (servers may send
 * some, e.g. GET_PARAMETER or ANNOUNCE) and interleaved frames. Feed it chunks as they arrive.
 */
export class RtspStreamParser {
  private buf: Buffer = Buffer.alloc(0)
  /**
   * Chunks held back while the message or frame at the head needs `need` bytes in all: they are
   * joined once, when enough has arrived, rather than on every chunk (a camera trickling a 1 MB
   * body a byte at a time would otherwise cost a terabyte of copying).
   */
  private waiting: Buffer[] = []
  private waitingBytes = 0
  private need = 0
  /** Where to look for the end of the header block next: no byte is scanned twice. */
  private scanFrom = 0

  /** Bytes held (never more than a header block, a body and a frame: see the limits above). */
  get bufferedBytes(): number {
    return this.buf.length + this.waitingBytes
  }

  push(chunk: Buffer): StreamItem[] {
    if (this.need > 0 && this.buf.length + this.waitingBytes + chunk.length < this.need) {
      this.waiting.push(chunk)
      this.waitingBytes += chunk.length
      return []
    }
    if (this.waiting.length > 0) {
      this.buf = Buffer.concat([this.buf, ...this.waiting, chunk])
      this.waiting = []
      this.waitingBytes = 0
    } else {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    }
    this.need = 0
    const items: StreamItem[] = []
    for (;;) {
      if (this.buf.length === 0) break
      if (this.buf[0] === 0x24) {
        if (this.buf.length < 4) break
        const length = this.buf.readUInt16BE(2)
        if (this.buf.length < 4 + length) {
          this.need = 4 + length
          break
        }
        items.push({
          kind: 'frame',
          frame: { channel: this.buf[1] as number, data: this.buf.subarray(4, 4 + length) },
        })
        this.advance(4 + length)
        continue
      }
      const end = headerEnd(this.buf, this.scanFrom)
      if (!end) {
        if (this.buf.length > MAX_HEADER_BYTES) throw new RtspParseError('RTSP header too large')
        // Bytes that cannot start a message: resynchronise on the next '$' or 'RTSP/'.
        const text = this.buf.toString('latin1', 0, Math.min(this.buf.length, 16))
        if (!/^(RTSP\/|[A-Z_]+( |$))/.test(text) && !'RTSP/'.startsWith(text.slice(0, 5))) {
          const nl = this.buf.indexOf(0x0a)
          if (nl !== -1) {
            this.advance(nl + 1)
            continue
          }
          const dollar = this.buf.indexOf(0x24)
          this.advance(dollar === -1 ? this.buf.length : dollar)
          if (dollar !== -1) continue
        }
        // The separator may straddle this chunk and the next: look again from its possible start.
        this.scanFrom = Math.max(0, this.buf.length - 3)
        break
      }
      const head = this.buf.toString('latin1', 0, end.end)
      const firstLine = head.slice(0, head.search(/\r?\n|$/))
      const isResponse = /^RTSP\/\d\.\d\s+\d{3}/.test(firstLine)
      const request = /^([A-Z_]+)\s+(\S+)\s+RTSP\/\d\.\d/.exec(firstLine)
      if (!isResponse && !request) {
        // Not the start of a message: drop this line and look again.
        const nl = this.buf.indexOf(0x0a)
        this.advance(nl === -1 ? this.buf.length : nl + 1)
        continue
      }
      const bodyStart = end.end + end.sepLength
      let contentLength = 0
      const cl = /\n\s*content-length\s*:\s*(\d+)/i.exec(head)
      if (cl) contentLength = Number(cl[1])
      if (contentLength > MAX_BODY_BYTES) throw new RtspParseError('RTSP body too large')
      if (this.buf.length < bodyStart + contentLength) {
        this.need = bodyStart + contentLength
        break
      }
      const body = Buffer.from(this.buf.subarray(bodyStart, bodyStart + contentLength))
      this.advance(bodyStart + contentLength)
      if (isResponse) {
        items.push({ kind: 'response', response: { ...parseResponseHead(head), body } })
      } else {
        const m = request as RegExpExecArray
        const { headers } = parseResponseHead(`RTSP/1.0 200 OK\n${head.slice(firstLine.length + 1)}`)
        items.push({ kind: 'request', method: m[1] as string, url: m[2] as string, headers, body })
      }
    }
    return items
  }

  /** Drops `n` bytes from the head: the next message starts there, scanned from its start. */
  private advance(n: number): void {
    this.buf = n >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(n)
    this.scanFrom = 0
  }
}
