import { profileLevelIdFromSps } from '@ts-vms/shared/live'
import { describe, expect, it } from 'vitest'
import { buildRtp, parseRtp } from '../rtp/rtp.ts'
import { Timeline } from '../rtp/timeline.ts'
import { splitAnnexB, toAnnexB, toLengthPrefixed } from './access-unit.ts'
import { Depacketizer } from './depacketizer.ts'
import { H264 } from './h264.ts'
import { H265 } from './h265.ts'

const sps = Buffer.from([0x67, 0x42, 0xe0, 0x1f, 0xaa])
const pps = Buffer.from([0x68, 0xce, 0x3c, 0x80])
const idr = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(3000, 0x11)])
const pSlice = Buffer.from([0x41, 1, 2, 3])

let seq = 100
function rtp(payload: Buffer, ts: number, marker: boolean) {
  const packet = parseRtp(
    buildRtp({ payloadType: 96, sequence: seq++, timestamp: ts, ssrc: 1, marker, payload }),
  )
  if (!packet) throw new Error('bad rtp')
  return packet
}

function fuA(nal: Buffer, size: number): Buffer[] {
  const header = nal[0] as number
  const body = nal.subarray(1)
  const out: Buffer[] = []
  for (let i = 0; i < body.length; i += size) {
    const start = i === 0
    const end = i + size >= body.length
    out.push(
      Buffer.concat([
        Buffer.from([(header & 0xe0) | 28, (start ? 0x80 : 0) | (end ? 0x40 : 0) | (header & 0x1f)]),
        body.subarray(i, i + size),
      ]),
    )
  }
  return out
}

describe('H.264 depacketizer (RFC 6184)', () => {
  it('rebuilds STAP-A and FU-A into keyframes that carry their parameter sets', () => {
    const d = new Depacketizer(H264, new Timeline(90000))
    const stap = Buffer.concat([
      Buffer.from([24]),
      Buffer.from([0, sps.length]),
      sps,
      Buffer.from([0, pps.length]),
      pps,
    ])
    expect(d.push(rtp(stap, 1000, false), 0)).toEqual([])
    const frags = fuA(idr, 1200)
    const out = frags.flatMap((f, i) => d.push(rtp(f, 1000, i === frags.length - 1), 0))
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ keyframe: true, damaged: false, codec: 'h264', timestamp: 1000 })
    expect(out[0]?.nalus.map((n) => n[0])).toEqual([0x67, 0x68, 0x65])
    expect(Buffer.compare(out[0]?.nalus[2] as Buffer, idr)).toBe(0)
    // A single-NAL P frame.
    const p = d.push(rtp(pSlice, 4000, true), 0)
    expect(p[0]).toMatchObject({ keyframe: false, nalus: [pSlice] })
    expect(d.parameters.map((n) => n[0])).toEqual([0x67, 0x68])
  })

  it('adds parameter sets from the SDP to a keyframe that lacks them', () => {
    const d = new Depacketizer(H264, new Timeline(90000), [sps, pps])
    const out = d.push(rtp(idr, 9000, true), 0)
    expect(out[0]?.nalus.map((n) => n[0])).toEqual([0x67, 0x68, 0x65])
  })

  it('keeps an access unit delimiter first when it adds parameter sets', () => {
    const d = new Depacketizer(H264, new Timeline(90000), [sps, pps])
    const aud = Buffer.from([0x09, 0xf0])
    const out = [...d.push(rtp(aud, 9000, false), 0), ...d.push(rtp(idr, 9000, true), 0)]
    expect(out[0]?.nalus.map((n) => n[0])).toEqual([0x09, 0x67, 0x68, 0x65])
  })

  it('drops a fragmented NAL unit when a fragment is lost, and marks the frame damaged', () => {
    const d = new Depacketizer(H264, new Timeline(90000), [sps, pps])
    const frags = fuA(idr, 1000)
    d.push(rtp(frags[0] as Buffer, 1000, false), 0)
    seq++ // frags[1] is lost
    const out = frags.slice(2).flatMap((f, i, a) => d.push(rtp(f, 1000, i === a.length - 1), 0))
    expect(out).toEqual([]) // the keyframe is gone
    // The next frame depends on it: damaged. The one after is clean again.
    expect(d.push(rtp(pSlice, 4000, true), 0)[0]?.damaged).toBe(true)
    expect(d.push(rtp(pSlice, 7000, true), 0)[0]?.damaged).toBe(false)
  })

  it('emits a frame when the timestamp moves on without a marker', () => {
    const d = new Depacketizer(H264, new Timeline(90000))
    expect(d.push(rtp(pSlice, 1000, false), 0)).toEqual([])
    expect(d.push(rtp(pSlice, 4000, false), 0)).toHaveLength(1)
  })

  it('reads profile-level-id from an SPS', () => {
    expect(profileLevelIdFromSps(sps)).toBe('42e01f')
  })
})

describe('H.265 depacketizer (RFC 7798)', () => {
  const vps = Buffer.from([0x40, 0x01, 0x0c])
  const hsps = Buffer.from([0x42, 0x01, 0x01])
  const hpps = Buffer.from([0x44, 0x01, 0xc1])
  const hidr = Buffer.concat([Buffer.from([0x26, 0x01]), Buffer.alloc(2500, 0x22)]) // IDR_W_RADL (19)

  it('rebuilds aggregation packets and fragmentation units', () => {
    const d = new Depacketizer(H265, new Timeline(90000))
    const ap = Buffer.concat([
      Buffer.from([48 << 1, 1]),
      ...[vps, hsps, hpps].flatMap((n) => [Buffer.from([0, n.length]), n]),
    ])
    d.push(rtp(ap, 500, false), 0)
    const body = hidr.subarray(2)
    const frags: Buffer[] = []
    for (let i = 0; i < body.length; i += 1000) {
      const s = i === 0
      const e = i + 1000 >= body.length
      frags.push(
        Buffer.concat([
          Buffer.from([49 << 1, 1, (s ? 0x80 : 0) | (e ? 0x40 : 0) | 19]),
          body.subarray(i, i + 1000),
        ]),
      )
    }
    const out = frags.flatMap((f, i) => d.push(rtp(f, 500, i === frags.length - 1), 0))
    expect(out).toHaveLength(1)
    expect(out[0]?.keyframe).toBe(true)
    expect(out[0]?.nalus.map((n) => (n[0] as number) >> 1)).toEqual([32, 33, 34, 19])
    expect(Buffer.compare(out[0]?.nalus[3] as Buffer, hidr)).toBe(0)
  })
})

describe('framing', () => {
  it('converts between Annex B and length-prefixed forms', () => {
    expect(splitAnnexB(toAnnexB([sps, pps, pSlice]))).toEqual([sps, pps, pSlice])
    expect(splitAnnexB(Buffer.concat([Buffer.from([0, 0, 1]), sps, Buffer.from([0, 0, 0, 1]), pps]))).toEqual(
      [sps, pps],
    )
    expect(toLengthPrefixed([pps]).readUInt32BE(0)).toBe(pps.length)
  })
})

describe('Timeline', () => {
  it('unwraps 32-bit timestamps and counts losses and reorders', () => {
    const t = new Timeline(90000)
    expect(t.unwrapTimestamp(0xfffff000)).toBe(0xfffff000)
    expect(t.unwrapTimestamp(0x00000100)).toBe(0x100000100)
    expect(t.unwrapTimestamp(0xfffff800)).toBe(0xfffff800) // late, from before the wrap
    expect(t.sequence(65534)).toBe(0)
    expect(t.sequence(65535)).toBe(0)
    expect(t.sequence(2)).toBe(2) // 0 and 1 lost across the wrap
    expect(t.sequence(1)).toBe(0) // arrives late
    expect([t.lost, t.reordered]).toEqual([2, 1])
  })

  it('maps RTP time to wall-clock time by sender report', () => {
    const t = new Timeline(90000)
    const ts = t.unwrapTimestamp(90000)
    expect(t.wallClock(ts, 5000)).toBe(5000) // anchored on arrival until a report comes
    // Received when the agent's clock agrees with the camera's (a report far off is only a hint
    // that is ignored: see timeline.test.ts).
    t.senderReport(180000, 1_700_000_001_000, 1_700_000_001_000)
    expect(t.hasSenderReport).toBe(true)
    expect(t.wallClock(t.unwrapTimestamp(270000), 1_700_000_002_000)).toBe(1_700_000_002_000)
  })
})
