import { describe, expect, it } from 'vitest'
import { LiveFanout } from './fanout.ts'
import { GopCache } from './gop-cache.ts'
import { chooseH264PayloadType, parseProfileLevelId, profileLevelIdFromSps } from './h264-profile.ts'
import { h264PayloadNalTypes, packetizeH264AccessUnit, packetizeH264Nal } from './h264-rtp.ts'
import { narrowOfferToH264, OfferError } from './offer.ts'
import { ReorderBuffer } from './reorder-buffer.ts'
import type { OutPacket } from './viewer-timeline.ts'

const nal = (type: number, size: number, fill = 0xab) => {
  const b = Buffer.alloc(size, fill)
  b[0] = 0x60 | type
  return b
}
const SPS = Buffer.from('6764001facd9405005bb011000000300100000030320f1831960', 'hex')
const PPS = Buffer.from('68ebe3cb22c0', 'hex')

/** A frame's packets as the agent makes them: keyframes carry SPS, PPS, IDR. */
function frame(timestamp: number, keyframe: boolean, size = 3000) {
  const nalus = keyframe ? [SPS, PPS, nal(5, size)] : [nal(1, size / 3)]
  return packetizeH264AccessUnit(nalus).map((p) => ({ ...p, timestamp }))
}

describe('H.264 RTP', () => {
  it('fragments large NAL units into FU-A and keeps small ones whole', () => {
    const big = nal(5, 3000)
    const parts = packetizeH264Nal(big, 1200)
    expect(parts).toHaveLength(3)
    expect(parts.every((p) => p.length <= 1200)).toBe(true)
    expect(parts.map((p) => (p[1] as number) & 0xc0)).toEqual([0x80, 0, 0x40])
    expect(h264PayloadNalTypes(parts[0] as Buffer)).toEqual([5])
    expect(h264PayloadNalTypes(parts[1] as Buffer)).toEqual([])
    // Reassembled, the fragments are the NAL unit again.
    const body = Buffer.concat(parts.map((p) => p.subarray(2)))
    expect(Buffer.concat([Buffer.from([((parts[0]?.[0] as number) & 0xe0) | 5]), body])).toEqual(big)
    expect(packetizeH264Nal(PPS)).toEqual([PPS])
  })

  it('marks only the last packet of an access unit', () => {
    const ps = packetizeH264AccessUnit([SPS, PPS, nal(5, 2500)])
    expect(ps.map((p) => p.marker)).toEqual([false, false, false, false, true])
  })

  it('reads the NAL types of a STAP-A and survives truncated input', () => {
    const stap = Buffer.concat([
      Buffer.from([24]),
      Buffer.from([0, SPS.length]),
      SPS,
      Buffer.from([0, PPS.length]),
      PPS,
    ])
    expect(h264PayloadNalTypes(stap)).toEqual([7, 8])
    expect(h264PayloadNalTypes(stap.subarray(0, 10))).toEqual([])
    expect(h264PayloadNalTypes(Buffer.from([28]))).toEqual([])
    expect(h264PayloadNalTypes(Buffer.alloc(0))).toEqual([])
  })
})

describe('H.264 profile negotiation', () => {
  const chromium = [
    { payloadType: 102, packetizationMode: 1, profileLevelId: parseProfileLevelId('42001f') },
    { payloadType: 104, packetizationMode: 0, profileLevelId: parseProfileLevelId('42001f') },
    { payloadType: 108, packetizationMode: 1, profileLevelId: parseProfileLevelId('42e01f') },
    { payloadType: 114, packetizationMode: 0, profileLevelId: parseProfileLevelId('42e01f') },
    { payloadType: 116, packetizationMode: 1, profileLevelId: parseProfileLevelId('4d001f') },
    { payloadType: 39, packetizationMode: 0, profileLevelId: parseProfileLevelId('4d001f') },
    { payloadType: 41, packetizationMode: 1, profileLevelId: parseProfileLevelId('f4001f') },
  ]

  it('classifies profile-level-ids as libwebrtc does', () => {
    expect(parseProfileLevelId('42e01f')).toEqual({ profile: 'constrained-baseline', level: 31 })
    expect(parseProfileLevelId('42001f')?.profile).toBe('baseline')
    expect(parseProfileLevelId('4d801f')?.profile).toBe('constrained-baseline')
    expect(parseProfileLevelId('4d0028')).toEqual({ profile: 'main', level: 40 })
    expect(parseProfileLevelId('640c1f')?.profile).toBe('constrained-high')
    expect(parseProfileLevelId('640029')?.profile).toBe('high')
    expect(parseProfileLevelId('zz0029')).toBeUndefined()
    expect(parseProfileLevelId(undefined)?.profile).toBe('constrained-baseline')
    expect(profileLevelIdFromSps(SPS)).toBe('64001f')
    expect(profileLevelIdFromSps(PPS)).toBeUndefined()
  })

  it("picks the offered payload type that decodes the camera's profile, in packetization-mode 1", () => {
    expect(chooseH264PayloadType(chromium, 'constrained-baseline')).toBe(108)
    expect(chooseH264PayloadType(chromium, 'main')).toBe(116)
    // Chromium offers no plain High: High 4:4:4 Predictive is the decoder that takes it.
    expect(chooseH264PayloadType(chromium, 'high')).toBe(41)
    expect(chooseH264PayloadType(chromium.slice(0, 4), 'high')).toBe(108)
    expect(chooseH264PayloadType([chromium[1] as (typeof chromium)[0]], 'main')).toBeUndefined()
  })
})

describe('offer narrowing', () => {
  const offer = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 116 117',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:0123456789012345678901',
    'a=fingerprint:sha-256 00:11',
    'a=mid:0',
    'a=recvonly',
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 nack',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
    'a=rtpmap:102 H264/90000',
    'a=rtcp-fb:102 nack pli',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
    'a=rtpmap:103 rtx/90000',
    'a=fmtp:103 apt=102',
    'a=rtpmap:116 H264/90000',
    'a=rtcp-fb:116 nack pli',
    'a=fmtp:116 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f',
    'a=rtpmap:117 rtx/90000',
    'a=fmtp:117 apt=116',
    '',
  ].join('\r\n')

  it("keeps only the camera's payload type and its RTX", () => {
    const r = narrowOfferToH264(offer, 'main')
    expect(r.payloadType).toBe(116)
    expect(r.sdp).toContain('m=video 9 UDP/TLS/RTP/SAVPF 116 117\r\n')
    expect(r.sdp).not.toMatch(/a=(rtpmap|fmtp|rtcp-fb):(96|97|102|103) /)
    expect(r.sdp).toContain('a=fmtp:117 apt=116')
    expect(r.sdp).toContain('a=ice-ufrag:abcd')
  })

  it('refuses what cannot be answered, with the reason', () => {
    expect(() => narrowOfferToH264('hello', 'main')).toThrow(OfferError)
    expect(() => narrowOfferToH264(offer.replace(/H264/g, 'VP9'), 'main')).toThrow(/does not offer H.264/)
    expect(() =>
      narrowOfferToH264(offer.replace(/packetization-mode=1/g, 'packetization-mode=0'), 'main'),
    ).toThrow(/packetization-mode 1/)
    expect(() => narrowOfferToH264(offer.replace('a=ice-ufrag:abcd\r\n', ''), 'main')).toThrow(/ICE/)
    expect(() => narrowOfferToH264(`${offer}${'a=x\r\n'.repeat(20000)}`, 'main')).toThrow(/larger/)
  })
})

describe('GOP cache', () => {
  it('holds the frames since the last keyframe and restarts at the next', () => {
    const cache = new GopCache()
    for (const p of frame(0, false)) cache.push(p) // before any keyframe: nothing to give
    expect(cache.snapshot()).toEqual([])
    for (const p of frame(3000, true)) cache.push(p)
    for (const p of frame(6000, false)) cache.push(p)
    expect(cache.snapshot().map((f) => [f.timestamp, f.keyframe])).toEqual([
      [3000, true],
      [6000, false],
    ])
    for (const p of frame(9000, true)) cache.push(p)
    expect(cache.snapshot().map((f) => f.timestamp)).toEqual([9000])
  })

  it('gives up a GOP beyond its limits and after loss, until the next keyframe', () => {
    const cache = new GopCache({ maxFrames: 3, maxBytes: 1e9 })
    for (let i = 0; i < 5; i++) for (const p of frame(i * 3000, i === 0)) cache.push(p)
    expect(cache.stats.valid).toBe(false)
    for (const p of frame(15000, true)) cache.push(p)
    expect(cache.snapshot()).toHaveLength(1)
    cache.invalidate()
    expect(cache.snapshot()).toEqual([])
  })
})

describe('live fanout', () => {
  const collect = () => {
    const out: OutPacket[] = []
    return { out, send: (p: OutPacket) => out.push(p) }
  }
  const timestamps = (out: OutPacket[]) => [...new Set(out.map((p) => p.timestamp))]
  const seqsContinuous = (out: OutPacket[]) =>
    out.every(
      (p, i) => i === 0 || p.sequenceNumber === (((out[i - 1] as OutPacket).sequenceNumber + 1) & 0xffff),
    )

  it('starts a new viewer on the cached GOP, squeezed, then continues at the camera spacing', () => {
    const fanout = new LiveFanout()
    for (let i = 0; i < 4; i++) for (const p of frame(90_000 + i * 3600, i === 0)) fanout.push(p)
    const a = collect()
    const viewer = fanout.addViewer(a.send)
    for (const p of frame(90_000 + 4 * 3600, false)) fanout.push(p)
    expect(a.out).toEqual([]) // nothing before the connection is up
    viewer.start()
    const replayed = timestamps(a.out)
    expect(replayed).toHaveLength(5)
    expect(replayed.slice(1).map((t, i) => (t - (replayed[i] as number)) >>> 0)).toEqual([90, 90, 90, 90])
    expect(h264PayloadNalTypes(a.out[0]?.payload as Buffer)).toEqual([7]) // begins with the SPS
    for (const p of frame(90_000 + 5 * 3600, false)) fanout.push(p)
    const all = timestamps(a.out)
    expect(((all[5] as number) - (all[4] as number)) >>> 0).toBe(3600)
    expect(seqsContinuous(a.out)).toBe(true)
    expect(viewer.stats).toMatchObject({ state: 'live', sentFrames: 6 })
  })

  it('keeps timestamps moving forward across a PLI replay and a wrap of the input clock', () => {
    let now = 0
    const fanout = new LiveFanout(undefined, () => now)
    const base = 0xffff_f000
    for (let i = 0; i < 3; i++) for (const p of frame((base + i * 3600) >>> 0, i === 0)) fanout.push(p)
    const a = collect()
    const viewer = fanout.addViewer(a.send)
    viewer.start()
    now += 2000
    viewer.pictureLoss()
    viewer.pictureLoss() // within a second of the replay: ignored
    for (const p of frame((base + 3 * 3600) >>> 0, false)) fanout.push(p)
    const ts = timestamps(a.out)
    // 3 replayed, 3 replayed again, 1 live: each later than the one before (mod 2^32).
    expect(ts).toHaveLength(7)
    expect(ts.slice(1).every((t, i) => (t - (ts[i] as number)) >>> 0 < 0x8000_0000)).toBe(true)
    expect(seqsContinuous(a.out)).toBe(true)
    expect(viewer.stats).toMatchObject({ replays: 1, pliReceived: 2 })
    // Later, but while its paced replay is still going out: counted, not replayed again.
    now += 2000
    viewer.pictureLoss(true)
    expect(viewer.stats).toMatchObject({ replays: 1, pliReceived: 3 })
    viewer.pictureLoss()
    expect(viewer.stats).toMatchObject({ replays: 2, pliReceived: 4 })
  })

  it('after input loss a viewer waits for the next keyframe (with the frame packets before it)', () => {
    let now = 0
    const fanout = new LiveFanout(undefined, () => now)
    let seq = 100
    const push = (ps: ReturnType<typeof frame>) => {
      for (const p of ps) fanout.push({ ...p, sequenceNumber: seq++ & 0xffff })
    }
    push(frame(0, true))
    const a = collect()
    const viewer = fanout.addViewer(a.send)
    viewer.start()
    const before = a.out.length
    seq += 2 // two packets lost
    push(frame(3600, false))
    expect(a.out.length).toBe(before) // held behind the gap, waiting for a retransmission
    expect(fanout.lostPackets).toBe(0)
    now += 300 // nothing came: the gap is given up with the next packet
    // A keyframe whose first packet is an SEI: the viewer gets the SEI too.
    const sei = Buffer.from([0x06, 0x05, 0x01, 0x80])
    const k = packetizeH264AccessUnit([sei, SPS, PPS, nal(5, 2000)]).map((p) => ({ ...p, timestamp: 7200 }))
    push(k)
    expect(fanout.lostPackets).toBe(2)
    expect(a.out.slice(before).map((p) => p.payload)).toEqual(k.map((p) => p.payload))
    expect(viewer.stats.state).toBe('live')
    expect(fanout.gop()).toHaveLength(1)
    viewer.close()
    expect(fanout.viewerCount).toBe(0)
  })

  it('a viewer that joins before any keyframe starts at the first one', () => {
    const fanout = new LiveFanout()
    const a = collect()
    fanout.addViewer(a.send).start()
    for (const p of frame(0, false)) fanout.push(p)
    expect(a.out).toEqual([])
    for (const p of frame(3600, true)) fanout.push(p)
    expect(h264PayloadNalTypes(a.out[0]?.payload as Buffer)).toEqual([7])
  })
})

describe('reorder buffer', () => {
  const p = (sequenceNumber: number) => ({ sequenceNumber })
  const seqs = (r: { ready: { sequenceNumber: number }[] }) => r.ready.map((x) => x.sequenceNumber)

  it('puts reordered and retransmitted packets back in order, across the 16-bit wrap', () => {
    const b = new ReorderBuffer({ maxWaitMs: 100, maxHeld: 64 })
    expect(seqs(b.push(p(65534), 0))).toEqual([65534])
    expect(seqs(b.push(p(0), 1))).toEqual([]) // 65535 is missing
    expect(seqs(b.push(p(1), 2))).toEqual([])
    // The retransmission arrives within the window: nothing lost.
    const r = b.push(p(65535), 50)
    expect(seqs(r)).toEqual([65535, 0, 1])
    expect(r.lost).toBe(0)
    expect(seqs(b.push(p(1), 60))).toEqual([]) // a duplicate, already released
    expect(b.late).toBe(1)
  })

  it('gives a gap up after the wait, or when too much is held behind it', () => {
    const b = new ReorderBuffer({ maxWaitMs: 100, maxHeld: 3 })
    b.push(p(10), 0)
    expect(b.push(p(12), 10).ready).toEqual([])
    const r = b.push(p(13), 120)
    expect(seqs(r)).toEqual([12, 13])
    expect(r.lost).toBe(1)
    expect(seqs(b.push(p(11), 130))).toEqual([]) // too late now
    // A burst beyond maxHeld gives up at once.
    b.push(p(20), 140)
    b.push(p(21), 140)
    b.push(p(22), 140)
    const burst = b.push(p(23), 140)
    expect(seqs(burst)).toEqual([20, 21, 22, 23])
    expect(burst.lost).toBe(6)
  })
})
