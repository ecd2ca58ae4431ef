import { describe, expect, it } from 'vitest'
import { buildSenderReport, parseSenderReports } from './rtcp.ts'
import { buildRtp, parseRtp } from './rtp.ts'

describe('RTP', () => {
  it('parses headers with CSRCs, extension and padding', () => {
    const base = buildRtp({
      payloadType: 96,
      sequence: 65535,
      timestamp: 0xdeadbeef,
      ssrc: 42,
      marker: true,
      payload: Buffer.from([1, 2, 3]),
    })
    expect(parseRtp(base)).toMatchObject({
      marker: true,
      payloadType: 96,
      sequence: 65535,
      timestamp: 0xdeadbeef,
      ssrc: 42,
    })
    const ext = Buffer.concat([
      base.subarray(0, 12),
      Buffer.from([0xbe, 0xde, 0, 1, 9, 9, 9, 9]),
      Buffer.from([1, 2, 3, 0, 0, 3]),
    ])
    ext[0] = 0xb0 // version 2, padding, extension
    const p = parseRtp(ext)
    expect(p?.payload).toEqual(Buffer.from([1, 2, 3]))
    expect(parseRtp(Buffer.from([0x80, 0]))).toBeUndefined()
    expect(parseRtp(Buffer.alloc(12))).toBeUndefined() // version 0
  })
})

describe('RTCP', () => {
  it('round-trips a sender report', () => {
    const sr = { ssrc: 7, ntpMs: 1_795_512_000_123, rtpTimestamp: 123456, packetCount: 10, octetCount: 1000 }
    const [parsed] = parseSenderReports(buildSenderReport(sr))
    expect(parsed?.ssrc).toBe(7)
    expect(Math.abs((parsed?.ntpMs ?? 0) - sr.ntpMs)).toBeLessThanOrEqual(1)
    expect(parseSenderReports(Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 0]))).toEqual([])
  })
})
