import { describe, expect, it } from 'vitest'
import { toAnnexB } from './access-unit.ts'
import { AnnexBReader } from './annexb-reader.ts'

const aud = Buffer.from([0x09, 0xf0])
const sps = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0x00, 0x00, 0x03, 0x00, 0x01])
const pps = Buffer.from([0x68, 0xce, 0x3c, 0x80])
const idr = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(5000, 0x11)])
const p = (n: number) => Buffer.concat([Buffer.from([0x41, n]), Buffer.alloc(300, 0x22)])

describe('Annex B reader', () => {
  const stream = Buffer.concat([
    toAnnexB([aud, sps, pps, idr]),
    toAnnexB([aud, p(1)]),
    Buffer.from([0, 0, 1]), // a 3-byte start code, as encoders also write
    aud,
    Buffer.from([0, 0, 1]),
    p(2),
    toAnnexB([aud, p(3)]),
  ])

  it('groups NAL units into access units at each delimiter, in one chunk or byte by byte', () => {
    const expected = [
      [aud, sps, pps, idr],
      [aud, p(1)],
      [aud, p(2)],
      [aud, p(3)],
    ]
    const whole = new AnnexBReader()
    expect([...whole.push(stream), ...whole.flush()]).toEqual(expected)
    const bytewise = new AnnexBReader()
    const out: Buffer[][] = []
    for (let i = 0; i < stream.length; i++) out.push(...bytewise.push(stream.subarray(i, i + 1)))
    // The last unit is complete only at the end of the stream.
    expect(out).toEqual(expected.slice(0, 3))
    expect(bytewise.flush()).toEqual(expected.slice(3))
  })

  it('survives garbage without start codes, and a stream that starts mid-unit', () => {
    const r = new AnnexBReader(1024)
    expect(r.push(Buffer.alloc(4096, 0xff))).toEqual([])
    const out = [
      ...r.push(Buffer.concat([Buffer.from([0xab, 0xcd]), toAnnexB([aud, p(7), aud])])),
      ...r.flush(),
    ]
    expect(out).toEqual([[aud, p(7)], [aud]])
  })
})
