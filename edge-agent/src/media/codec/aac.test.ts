import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadAdtsClip } from '../../../../scripts/camera-sim/clip.ts'
import { packetizeAac } from '../../../../scripts/camera-sim/packetize.ts'
import { parseSdp, type SdpMedia } from '../sdp/sdp.ts'
import { AacDepacketizer, type AacParams, aacParams, parseAudioSpecificConfig } from './aac.ts'

/** A buffer from a bit string ('00010 1000 ...', spaces ignored), zero-padded to a byte. */
function bits(s: string): Buffer {
  const b = s.replace(/\s+/g, '')
  const out = Buffer.alloc(Math.ceil(b.length / 8))
  for (let i = 0; i < b.length; i++)
    if (b[i] === '1') out[i >> 3] = (out[i >> 3] as number) | (0x80 >> (i & 7))
  return out
}

function audio(lines: string[]): SdpMedia {
  const sdp = parseSdp(['v=0', 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', ...lines].join('\r\n'))
  const media = sdp.media[1]
  if (!media) throw new Error('no audio section')
  return media
}

const HIKVISION = [
  'm=audio 0 RTP/AVP 97',
  'a=rtpmap:97 MPEG4-GENERIC/16000/1',
  'a=fmtp:97 streamtype=5; profile-level-id=15; mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3; config=1408',
  'a=control:trackID=2',
]

describe('AudioSpecificConfig (ISO 14496-3 1.6.2.1)', () => {
  it('reads AAC-LC configs as cameras send them', () => {
    expect(parseAudioSpecificConfig(Buffer.from('1408', 'hex'))).toEqual({
      objectType: 2,
      sampleRate: 16000,
      channels: 1,
      frameLength: 1024,
    })
    expect(parseAudioSpecificConfig(Buffer.from('1190', 'hex'))).toEqual({
      objectType: 2,
      sampleRate: 48000,
      channels: 2,
      frameLength: 1024,
    })
    expect(parseAudioSpecificConfig(Buffer.from('1588', 'hex'))).toMatchObject({
      sampleRate: 8000,
      channels: 1,
    })
    // frameLengthFlag: 960-sample frames
    expect(parseAudioSpecificConfig(Buffer.from('1194', 'hex'))?.frameLength).toBe(960)
    // channelConfiguration 7 is 7.1: eight channels
    expect(parseAudioSpecificConfig(bits('00010 0011 0111 000'))?.channels).toBe(8)
  })

  it('follows the escapes: an explicit 24-bit sampling rate, and 6 more bits of object type', () => {
    // AAC-LC, index 15 then 16000 in 24 bits, mono
    expect(parseAudioSpecificConfig(bits('00010 1111 000000000011111010000000 0001 000'))).toEqual({
      objectType: 2,
      sampleRate: 16000,
      channels: 1,
      frameLength: 1024,
    })
    // An odd explicit rate (11 kHz) is taken as stated.
    expect(parseAudioSpecificConfig(bits('00010 1111 000000000010101011111000 0001 000'))?.sampleRate).toBe(
      11000,
    )
    // 31 + 6 bits: object type 32 + 7 = 39 (ER AAC ELD, 480/512-sample frames): read, and refused
    expect(parseAudioSpecificConfig(bits('11111 000111 0011 0001 0000000000'))).toBeUndefined()
    // The escape cut short.
    expect(parseAudioSpecificConfig(bits('11111 000'))).toBeUndefined()
  })

  it('reads explicit HE-AAC (SBR) and HE-AACv2 (PS) signalling', () => {
    // AOT 5, core 24 kHz stereo, extension 48 kHz, then the core type AAC-LC
    const he = bits('00101 0110 0010 0011 00010 000')
    expect(parseAudioSpecificConfig(he)).toEqual({
      objectType: 5,
      sampleRate: 48000,
      channels: 2,
      frameLength: 1024,
    })
    // AOT 29, core 24 kHz "mono" (PS makes it stereo), extension 48 kHz
    const v2 = bits('11101 0110 0001 0011 00010 000')
    expect(parseAudioSpecificConfig(v2)).toMatchObject({ objectType: 29, sampleRate: 48000 })
  })

  it('counts the channels of a program_config_element (channelConfiguration 0)', () => {
    // 5.1: front SCE + CPE, back CPE, one LFE
    const pce = bits(
      '00010 0011 0000 000 ' + // AAC-LC 48 kHz, channels in the PCE; GA flags
        '0000 01 0011 0010 0000 0001 01 000 0000 0 0 0 ' + // tag, profile, rate, counts, no mixdowns
        '0 0000 1 0001 ' + // front: SCE, CPE
        '1 0010 ' + // back: CPE
        '0000', // LFE tag
    )
    expect(parseAudioSpecificConfig(pce)?.channels).toBe(6)
    expect(parseAudioSpecificConfig(pce.subarray(0, 4))).toBeUndefined() // truncated PCE
  })

  it('refuses what it cannot use, without throwing', () => {
    for (const hex of ['', '14', '1780', '4008', '1000', '1440', '0000', 'ffff', '2808']) {
      expect(parseAudioSpecificConfig(Buffer.from(hex, 'hex')), hex).toBeUndefined()
    }
    for (let i = 0; i < 2000; i++) expect(() => parseAudioSpecificConfig(randomBytes(i % 12))).not.toThrow()
  })
})

describe('aacParams (RFC 3640 in SDP)', () => {
  it('reads the Hikvision / Axis style section', () => {
    expect(aacParams(audio(HIKVISION))).toEqual({
      config: Buffer.from('1408', 'hex'),
      sampleRate: 16000,
      channels: 1,
      frameLength: 1024,
      sizeLength: 13,
      indexLength: 3,
      indexDeltaLength: 3,
      codecString: 'mp4a.40.2',
    })
  })

  it('takes keys and values in any case, with or without spaces', () => {
    const p = aacParams(
      audio([
        'm=audio 0 RTP/AVP 96',
        'a=rtpmap:96 mpeg4-generic/48000/2',
        'a=fmtp:96 StreamType=5;Mode=aac-HBR;SizeLength=13;IndexLength=3;IndexDeltaLength=3;Config=1190',
      ]),
    )
    expect(p).toMatchObject({ sampleRate: 48000, channels: 2, sizeLength: 13, codecString: 'mp4a.40.2' })
    expect(p?.config.toString('hex')).toBe('1190')
  })

  it('fills in the lengths the mode implies, hbr and lbr', () => {
    const hbr = aacParams(
      audio([
        'm=audio 0 RTP/AVP 97',
        'a=rtpmap:97 MPEG4-GENERIC/8000/1',
        'a=fmtp:97 mode=AAC-hbr;config=1588',
      ]),
    )
    expect(hbr).toMatchObject({ sampleRate: 8000, sizeLength: 13, indexLength: 3, indexDeltaLength: 3 })
    const lbr = aacParams(
      audio([
        'm=audio 0 RTP/AVP 97',
        'a=rtpmap:97 MPEG4-GENERIC/16000',
        'a=fmtp:97 streamtype=5;mode=AAC-lbr;config=1408',
      ]),
    )
    expect(lbr).toMatchObject({ sizeLength: 6, indexLength: 2, indexDeltaLength: 2 })
    // No mode at all, the lengths stated: taken as stated.
    const bare = aacParams(
      audio([
        'm=audio 0 RTP/AVP 97',
        'a=rtpmap:97 MPEG4-GENERIC/16000/1',
        'a=fmtp:97 sizelength=13;indexlength=3;indexdeltalength=3;config=1408',
      ]),
    )
    expect(bare?.sizeLength).toBe(13)
  })

  it('times HE-AAC AUs in the RTP clock: 2048 ticks when it runs at the output rate', () => {
    const p = aacParams(
      audio([
        'm=audio 0 RTP/AVP 97',
        'a=rtpmap:97 MPEG4-GENERIC/48000/2',
        `a=fmtp:97 streamtype=5;mode=AAC-hbr;config=${bits('00101 0110 0010 0011 00010 000').toString('hex')}`,
      ]),
    )
    expect(p).toMatchObject({ sampleRate: 48000, frameLength: 2048, codecString: 'mp4a.40.5' })
  })

  it('is undefined for other codecs and for unusable AAC sections', () => {
    const sections: string[][] = [
      ['m=audio 0 RTP/AVP 0'],
      ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-LATM/16000/1', 'a=fmtp:97 config=40002810'],
      ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000/1', 'a=fmtp:97 streamtype=5;mode=AAC-hbr'],
      ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000/1', 'a=fmtp:97 mode=AAC-hbr;config=140'],
      ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000/1', 'a=fmtp:97 mode=AAC-hbr;config=zz08'],
      ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000/1', 'a=fmtp:97 mode=AAC-hbr;config=f808'],
      [
        'm=audio 0 RTP/AVP 97',
        'a=rtpmap:97 MPEG4-GENERIC/16000/1',
        'a=fmtp:97 streamtype=4;mode=AAC-hbr;config=1408',
      ],
      ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000/1', 'a=fmtp:97 mode=CELP-cbr;config=1408'],
      ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000/1', 'a=fmtp:97 mode=generic;config=1408'],
      [
        'm=audio 0 RTP/AVP 97',
        'a=rtpmap:97 MPEG4-GENERIC/16000/1',
        'a=fmtp:97 mode=AAC-hbr;sizelength=0;config=1408',
      ],
    ]
    for (const lines of sections) expect(aacParams(audio(lines)), lines.join(' | ')).toBeUndefined()
    expect(
      aacParams(parseSdp(['m=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000'].join('\n')).media[0] as SdpMedia),
    ).toBe(undefined)
  })
})

const HBR = aacParams(audio(HIKVISION)) as AacParams
const LBR: AacParams = { ...HBR, sizeLength: 6, indexLength: 2, indexDeltaLength: 2 }

/** An AAC-hbr payload: AU headers (13-bit size, 3-bit index / delta 0), then the AUs. */
function hbr(aus: Buffer[], sizes = aus.map((a) => a.length)): Buffer {
  const head = Buffer.alloc(2 + 2 * sizes.length)
  head.writeUInt16BE(16 * sizes.length, 0)
  for (const [i, s] of sizes.entries()) head.writeUInt16BE((s & 0x1fff) << 3, 2 + 2 * i)
  return Buffer.concat([head, ...aus])
}

const au = (n: number, fill: number) => Buffer.alloc(n, fill)

describe('AacDepacketizer (RFC 3640)', () => {
  it('unpacks one AU per packet', () => {
    const d = new AacDepacketizer(HBR)
    expect(d.push(hbr([au(200, 1)]), 5000, true)).toEqual([{ timestamp: 5000, data: au(200, 1) }])
  })

  it('unpacks several AUs per packet, each a frame later', () => {
    const d = new AacDepacketizer(HBR)
    const out = d.push(hbr([au(10, 1), au(300, 2), au(7, 3)]), 2 ** 32 + 100, true)
    expect(out).toEqual([
      { timestamp: 2 ** 32 + 100, data: au(10, 1) },
      { timestamp: 2 ** 32 + 100 + 1024, data: au(300, 2) },
      { timestamp: 2 ** 32 + 100 + 2048, data: au(7, 3) },
    ])
  })

  it('reads AAC-lbr headers (6-bit size, 2-bit index)', () => {
    const d = new AacDepacketizer(LBR)
    const payload = Buffer.concat([Buffer.from([0, 16, (20 << 2) | 0, (30 << 2) | 0]), au(20, 1), au(30, 2)])
    expect(d.push(payload, 0, true)).toEqual([
      { timestamp: 0, data: au(20, 1) },
      { timestamp: 1024, data: au(30, 2) },
    ])
  })

  it('reassembles an AU fragmented over several packets', () => {
    const big = randomBytes(3000)
    const packets = packetizeAac(big, 1000)
    expect(packets.length).toBe(4)
    expect(packets.map((p) => p.marker)).toEqual([false, false, false, true])
    const d = new AacDepacketizer(HBR)
    const out = packets.map((p) => d.push(p.payload, 90, p.marker))
    expect(out.slice(0, 3)).toEqual([[], [], []])
    expect(out[3]).toEqual([{ timestamp: 90, data: big }])
  })

  it('drops an AU that lost a fragment, and goes on with the next', () => {
    const big = randomBytes(3000)
    const packets = packetizeAac(big, 1000)
    const next = hbr([au(100, 9)])
    // A middle fragment lost: the gap is signalled on the one after it.
    let d = new AacDepacketizer(HBR)
    expect(d.push(packets[0]!.payload, 0, false)).toEqual([])
    expect(d.push(packets[2]!.payload, 0, false, true)).toEqual([])
    expect(d.push(packets[3]!.payload, 0, true)).toEqual([])
    expect(d.push(next, 1024, true)).toEqual([{ timestamp: 1024, data: au(100, 9) }])
    // The first fragment lost before we ever started: the rest comes up short.
    d = new AacDepacketizer(HBR)
    for (const p of packets.slice(1)) expect(d.push(p.payload, 0, p.marker)).toEqual([])
    // The last fragment lost (no gap flag yet): the next AU's timestamp ends the wait.
    d = new AacDepacketizer(HBR)
    for (const p of packets.slice(0, 3)) expect(d.push(p.payload, 0, p.marker)).toEqual([])
    expect(d.push(next, 1024, true)).toEqual([{ timestamp: 1024, data: au(100, 9) }])
    // Same timestamp and size, but more bytes than the AU: malformed.
    d = new AacDepacketizer(HBR)
    expect(d.push(packets[0]!.payload, 0, false)).toEqual([])
    expect(d.push(packets[1]!.payload, 0, false)).toEqual([])
    expect(d.push(packets[1]!.payload, 0, false)).toEqual([])
    expect(d.push(packets[1]!.payload, 0, true)).toBe('invalid')
  })

  it('calls malformed payloads invalid and never throws', () => {
    const d = new AacDepacketizer(HBR)
    const bad: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from([0]),
      Buffer.from([0, 0, 1, 2, 3]), // no AU headers
      Buffer.from([0, 64, 0, 0x80]), // 4 headers announced, one there
      Buffer.from([0, 17, 0, 0x80, 0, 1]), // a header and one bit of the next
      hbr([au(0, 0)]), // an empty AU
      hbr([au(10, 1), au(10, 2)], [10, 30]), // several AUs that do not fit: not a fragment
    ]
    for (const b of bad) expect(d.push(b, 0, true), b.toString('hex')).toBe('invalid')
    for (let i = 0; i < 5000; i++) {
      const payload = i % 2 ? randomBytes(i % 64) : hbr([randomBytes(1 + (i % 50))])
      if (i % 2 === 0) payload[(i * 7919) % payload.length] = (i * 31) & 0xff
      for (const p of [HBR, LBR]) {
        const r = new AacDepacketizer(p).push(payload, i, i % 3 === 0, i % 5 === 0)
        expect(r === 'invalid' || Array.isArray(r)).toBe(true)
      }
    }
  })

  it("carries the simulator's ADTS clip through the packetiser and back unchanged", () => {
    const clips = path.resolve(
      path.dirname(fileURLToPath(import.meta.url)),
      '../../../../scripts/camera-sim/clips',
    )
    const clip = loadAdtsClip(path.join(clips, 'sim-aac.adts'))
    expect(clip).toMatchObject({ sampleRate: 16000, channels: 1, frameLength: 1024 })
    expect(clip.config.toString('hex')).toBe('1408')
    expect(clip.frames.length).toBeGreaterThan(150)
    const d = new AacDepacketizer(HBR)
    const got: Buffer[] = []
    clip.frames.forEach((frame, i) => {
      for (const p of packetizeAac(frame)) {
        const r = d.push(p.payload, i * 1024, p.marker)
        if (r === 'invalid') throw new Error(`frame ${i}: invalid`)
        for (const a of r) {
          expect(a.timestamp).toBe(i * 1024)
          got.push(a.data)
        }
      }
    })
    expect(got).toEqual(clip.frames)
  })
})
