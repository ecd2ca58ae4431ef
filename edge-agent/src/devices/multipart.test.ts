import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { boundaryFromContentType, MultipartError, MultipartParser, type MultipartPart } from './multipart.ts'

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/devices/', import.meta.url))

function parseAll(boundary: string, chunks: (Buffer | string)[]): MultipartPart[] {
  const p = new MultipartParser(boundary)
  return chunks.flatMap((c) => p.push(c))
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const p of points) {
    out.push(buf.subarray(prev, p))
    prev = p
  }
  out.push(buf.subarray(prev))
  return out
}

const simple = (parts: MultipartPart[]) =>
  parts.map((p) => ({ headers: p.headers, body: p.body.toString('latin1') }))

describe('boundaryFromContentType', () => {
  it('reads quoted, unquoted and any-case boundaries, and nothing else', () => {
    expect(boundaryFromContentType('multipart/x-mixed-replace; boundary=myboundary')).toBe('myboundary')
    expect(boundaryFromContentType('multipart/mixed;boundary="boundary"')).toBe('boundary')
    expect(boundaryFromContentType('Multipart/X-Mixed-Replace; charset=utf-8; BOUNDARY=abc')).toBe('abc')
    expect(boundaryFromContentType(['multipart/mixed; boundary=x'])).toBe('x')
    expect(boundaryFromContentType('text/plain; boundary=x')).toBeUndefined()
    expect(boundaryFromContentType('multipart/mixed')).toBeUndefined()
    expect(boundaryFromContentType(undefined)).toBeUndefined()
  })
})

describe('MultipartParser', () => {
  it('parses Hikvision-style parts with Content-Length, delivering each as soon as complete', () => {
    const xml = '<EventNotificationAlert><eventType>VMD</eventType></EventNotificationAlert>'
    const p = new MultipartParser('boundary')
    const first = p.push(
      `--boundary\r\nContent-Type: application/xml; charset="UTF-8"\r\nContent-Length: ${xml.length}\r\n\r\n${xml}`,
    )
    expect(simple(first)).toEqual([
      {
        headers: { 'content-type': 'application/xml; charset="UTF-8"', 'content-length': String(xml.length) },
        body: xml,
      },
    ])
    expect(p.push(`\r\n--boundary\r\nContent-Length: 2\r\n\r\nhi\r\n`).map((x) => x.body.toString())).toEqual(
      ['hi'],
    )
  })

  it('parses parts without Content-Length, delimited by the next boundary, CRLF or LF only', () => {
    const crlf =
      '--myboundary\r\nContent-Type: text/plain\r\n\r\nCode=A;action=Start;index=0\r\n--myboundary\r\n'
    expect(simple(parseAll('myboundary', [crlf]))).toEqual([
      { headers: { 'content-type': 'text/plain' }, body: 'Code=A;action=Start;index=0' },
    ])
    const lf = 'junk before\n--b\nX-A: 1\n\nline1\nline2\n--b\n\nsecond\n--b--\nignored'
    expect(simple(parseAll('b', [lf]))).toEqual([
      { headers: { 'x-a': '1' }, body: 'line1\nline2' },
      { headers: {}, body: 'second' },
    ])
  })

  it('accepts a part without a header block, and a boundary announced with its dashes', () => {
    const s = '--myboundary\r\nHeartbeat\r\n--myboundary\r\n'
    expect(simple(parseAll('--myboundary', [s]))).toEqual([{ headers: {}, body: 'Heartbeat' }])
    expect(simple(parseAll('myboundary', [s]))).toEqual([{ headers: {}, body: 'Heartbeat' }])
  })

  it('ignores a longer token that only starts like the boundary', () => {
    const s = '--bX\r\nno\r\n--b\r\n\r\nyes\r\n--b--\r\n'
    expect(simple(parseAll('b', [s]))).toEqual([{ headers: {}, body: 'yes' }])
  })

  it('stops at the closing boundary', () => {
    const p = new MultipartParser('b')
    expect(p.push('--b\r\n\r\nx\r\n--b--\r\n--b\r\n\r\ny\r\n--b\r\n')).toHaveLength(1)
    expect(p.finished).toBe(true)
    expect(p.push('--b\r\n\r\nz\r\n--b\r\n')).toEqual([])
  })

  it('bounds the header block and the part, with and without Content-Length', () => {
    const headers = new MultipartParser('b', { maxHeaderBytes: 100 })
    expect(() => headers.push(`--b\r\nX-Long: ${'a'.repeat(200)}`)).toThrow(MultipartError)
    expect(() => headers.push('more')).toThrow(/already failed/)
    const manyHeaders = new MultipartParser('b', { maxHeaderBytes: 100 })
    expect(() => {
      for (let i = 0; i < 20; i++)
        manyHeaders.push(`X-H${i}: value\r\n`.replace(/^/, i === 0 ? '--b\r\n' : ''))
    }).toThrow(MultipartError)
    const declared = new MultipartParser('b', { maxPartBytes: 1000 })
    expect(() => declared.push('--b\r\nContent-Length: 5000\r\n\r\n')).toThrow(/over 1000/)
    const endless = new MultipartParser('b', { maxPartBytes: 1000 })
    expect(() => {
      endless.push('--b\r\n\r\n')
      for (let i = 0; i < 100; i++) endless.push('x'.repeat(100))
    }).toThrow(MultipartError)
  })

  it('keeps little memory while skipping a preamble that never holds a boundary', () => {
    const p = new MultipartParser('boundary')
    for (let i = 0; i < 1000; i++) p.push(Buffer.alloc(4096, 0x61))
    expect(p.push('--boundary\r\n\r\nok\r\n--boundary\r\n').map((x) => x.body.toString())).toEqual(['ok'])
  })

  it('never delivers a truncated part and says so at the end of the stream', () => {
    const p = new MultipartParser('b')
    expect(p.push('--b\r\nContent-Length: 10\r\n\r\nabc')).toEqual([])
    expect(p.end()).toEqual({ truncated: true })
    const q = new MultipartParser('b')
    q.push('--b\r\n\r\nx\r\n--b\r\n\r\npartial')
    expect(q.end()).toEqual({ truncated: true })
    const r = new MultipartParser('b')
    r.push('--b\r\nContent-Length: 1\r\n\r\nx\r\n')
    expect(r.end()).toEqual({ truncated: false })
  })

  it('gives the same parts for a Dahua stream split at every byte', () => {
    const body = 'Code=VideoMotion;action=Start;index=0;data={\n   "Id" : [ 0 ]\n}'
    const stream = Buffer.from(
      `--myboundary\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}\r\n\r\n` +
        '--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nHeartbeat\r\n\r\n' +
        '--myboundary\r\nContent-Type: text/plain\r\n\r\nCode=X;action=Pulse;index=1\r\n--myboundary\r\n',
    )
    const whole = simple(parseAll('myboundary', [stream]))
    expect(whole.map((p) => p.body)).toEqual([body, 'Heartbeat', 'Code=X;action=Pulse;index=1'])
    const bytes = [...stream].map((b) => Buffer.from([b]))
    expect(simple(parseAll('myboundary', bytes))).toEqual(whole)
  })

  it('gives the same parts for a Hikvision alertStream of the recorded alerts split at every byte', () => {
    const names = ['moonfire_alert_videoloss_inactive_hikvision_ver10.xml', 'hikvision_next_alert_vmd.xml']
    const paths = names.map((n) => `${FIXTURES}isapi/${n}`)
    if (!paths.every(existsSync)) {
      console.warn(`SKIPPED: ISAPI fixtures absent under ${FIXTURES}isapi/`)
      return
    }
    const xmls = paths.map((p) => readFileSync(p))
    // Hikvision framing: Content-Length, then CRLF before the next boundary.
    const stream = Buffer.concat(
      xmls.flatMap((x) => [
        Buffer.from(
          `--boundary\r\nContent-Type: application/xml; charset="UTF-8"\r\nContent-Length: ${x.length}\r\n\r\n`,
        ),
        x,
        Buffer.from('\r\n'),
      ]),
    )
    const bytes = [...stream].map((b) => Buffer.from([b]))
    const parts = parseAll('boundary', bytes)
    expect(parts.map((p) => p.body)).toEqual(xmls)
  })

  it('parses the rroller doorbell part, split where its test splits it', () => {
    const path = `${FIXTURES}dahua/rroller_stream_doorbell_content_length.txt`
    if (!existsSync(path)) {
      console.warn(`SKIPPED: fixture ${path} absent`)
      return
    }
    const part = readFileSync(path)
    const p = new MultipartParser('myboundary')
    // The part is delivered before any next boundary: Content-Length says it is complete.
    const got = [...p.push(part.subarray(0, -12)), ...p.push(part.subarray(-12))]
    expect(simple(got)).toEqual([
      {
        headers: { 'content-type': 'text/plain', 'content-length': '41' },
        body: 'Code=DoorbellPressed;action=Pulse;index=0',
      },
    ])
  })

  it('property: splitting a valid stream anywhere gives the same parts', () => {
    const headerName = fc.stringMatching(/^X-[A-Za-z0-9]{1,8}$/)
    const headerValue = fc.stringMatching(/^[ -~]{0,20}$/).map((s) => s.trim())
    // Bodies may hold anything except a line that starts with the boundary.
    const bodyBytes = fc
      .uint8Array({ maxLength: 300 })
      .map((a) => Buffer.from(a).toString('latin1').replaceAll('--bnd', '-_bnd'))
    const part = fc.record({
      headers: fc.dictionary(headerName, headerValue, { maxKeys: 3 }),
      body: bodyBytes,
      withLength: fc.boolean(),
      eol: fc.constantFrom('\r\n', '\n'),
    })
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.boolean(),
        (parts, cuts, leadingCrlf) => {
          let s = leadingCrlf ? '\r\n' : ''
          const expected: { headers: Record<string, string>; body: string }[] = []
          for (const p of parts) {
            const headers: Record<string, string> = {}
            for (const [k, v] of Object.entries(p.headers)) headers[k.toLowerCase()] = v
            // Without a Content-Length a trailing line break is taken as the boundary's own.
            const body = p.withLength ? p.body : p.body.replace(/[\r\n]+$/, '')
            if (p.withLength) headers['content-length'] = String(Buffer.byteLength(body, 'latin1'))
            s += `--bnd${p.eol}`
            for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}${p.eol}`
            s += p.eol + body + p.eol
            expected.push({ headers, body })
          }
          s += '--bnd--\r\n'
          const stream = Buffer.from(s, 'latin1')
          const got = simple(parseAll('bnd', splitAt(stream, cuts)))
          expect(got).toEqual(expected)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: arbitrary bytes never crash it beyond a MultipartError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (chunks) => {
        const p = new MultipartParser('b', { maxPartBytes: 500, maxHeaderBytes: 100 })
        try {
          for (const c of chunks) p.push(Buffer.from(c))
        } catch (err) {
          expect(err).toBeInstanceOf(MultipartError)
        }
      }),
    )
  })
})
